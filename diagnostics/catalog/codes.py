"""What the codes alone say, for text that says nothing recognizable.

RFC 3463 enhanced status codes (class.subject.detail), RFC 5321 basic reply codes and HTTP
statuses. Where a code means what a telling word means, it shares that word's entry.
Codes too vague to name a cause (550, 554, 5.3.x, 5.4.x…) are left out on purpose: the
diagnosis is then `unknown`, with the retry of the code class.
"""

from __future__ import annotations

import dataclasses

from diagnostics.catalog import words as w
from diagnostics.catalog.entry import Entry, TextIndex
from diagnostics.catalog.smtp import MAILBOX_BUSY, SERVICE_UNAVAILABLE
from diagnostics.vocabulary import Category as C
from diagnostics.vocabulary import Fix as F

DOMAIN_UNUSABLE = Entry(
    "smtp.5.1.2",
    C.RECIPIENT_ADDRESS_INVALID,
    "The contact's domain cannot receive mail",
    examples=("550 5.4.4 SMTPSEND.DNS.NonExistentDomain; nonexistent domain",),
    source="Exchange Online NDRs",
    explanation="The domain of the contact's address does not exist or accepts no mail, "
    "often a typo. Correct the address and the email is rescheduled.",
)
MOVED = Entry(
    "smtp.5.1.6",
    C.RECIPIENT_UNKNOWN,
    "The recipient's mailbox has moved",
    explanation="The recipient's mailbox moved and left no forwarding address. Find the "
    "contact's new address, or the contact is not emailed again.",
)
MAILBOX_REFUSED = Entry(
    "smtp.5.2.0",
    C.RECIPIENT_UNKNOWN,
    "The recipient's mailbox refused the email",
)
MAILBOX_UNAVAILABLE = Entry(
    "smtp.4.2.0",
    C.RECIPIENT_UNAVAILABLE,
    "Recipient mailbox temporarily unavailable",
)
DEFERRED = Entry(
    "smtp.4.7.0",
    C.TEMPORARY_FAILURE,
    "Temporarily deferred by the receiving server",
    examples=("421 4.7.0 Try again later, closing connection.",),
    source="Gmail SMTP errors and codes",
)
TRANSIENT = Entry(
    "smtp.4.0.0",
    C.TEMPORARY_FAILURE,
    "Temporary failure at the receiving server",
    examples=(
        "451 Message temporarily deferred - [160]",
        "454 Temporary authentication failure",
        "421 4.4.0 Problem attempting to execute commands. Please try again later",
    ),
    source="Yahoo SMTP error codes; Emailit SMTP troubleshooting; Oracle Cloud Email Delivery "
    "troubleshooting",
)
PROTOCOL = Entry(
    "smtp.5.5.0",
    C.REQUEST_INVALID,
    "The receiving server rejected our SMTP commands",
    examples=("500 5.5.1 Command unrecognized",),
    source="RFC 5321 reply codes",
)
CONTENT_FORMAT = Entry(
    "smtp.5.6.0",
    C.CONTENT_REJECTED,
    "The message's format was refused",
    fixes=(F.REVIEW_CONTENT, F.CONTACT_SUPPORT),
    explanation="The receiving server could not accept the message's format or encoding. "
    "Review the step's content (attachments, special characters) before it is resent.",
)
NOT_AUTHORIZED = Entry(
    "smtp.5.7.1",
    C.SENDER_BLOCKED,
    "Delivery not authorized by the receiving server",
    examples=("Remote host said: 550 5.7.1 Requested action not taken: message refused",),
    source="qmail bounce, pastebin.com/XgicFi2n",
    explanation="The receiving server's security policy refused mail from this sender, "
    "most often for reputation or authentication. Check the blocklists and DNS records.",
)
HTTP_REFUSED = Entry(
    "http.4xx",
    C.PROVIDER_ERROR,
    "The sending provider refused the request",
)
HTTP_UNAUTHORIZED = Entry(
    "http.401",
    C.MAILBOX_CONNECTION,
    "The sending provider did not accept the credentials",
)
HTTP_FORBIDDEN = Entry(
    "http.403",
    C.ACCOUNT_SETUP,
    "The sending provider forbids this request",
    fixes=(F.ADMIN_SETUP, F.RESYNC_MAILBOX),
)
HTTP_UNAVAILABLE = Entry(
    "http.5xx",
    C.TEMPORARY_FAILURE,
    "The sending provider failed temporarily",
    examples=(
        '{"error": {"errors": [{"domain": "global", "reason": "backendError", "message": "Backend '
        'Error"}], "code": 500, "message": "Backend Error"}}',
    ),
    source="Gmail API, resolve errors",
)
# What a reply that would bounce the contact says instead when it shows our own side
# (diagnostics.diagnosis: a sender-side refusal is never the contact's dead address).
SENDER_REFUSED = Entry(
    "sender.refused",
    C.ACCOUNT_SETUP,
    "Refused on the sending side",
    fixes=(F.ADMIN_SETUP, F.RESYNC_MAILBOX, F.CONTACT_SUPPORT),
    examples=(
        "System.Net.Mail.SmtpException: Mailbox unavailable. The server response was: If MAIL "
        "FROM is local then you must authenticate",
    ),
    source="Postal, github.com/andrewdavey/postal/issues/127",
    explanation="The server refused the email because of the sending mailbox or its setup "
    "(its login, its address, its relay or its limits), not because of the contact's address. "
    "An admin must check the mailbox's settings; the contact is not suppressed.",
)
UNKNOWN = Entry("unknown", C.UNKNOWN, "Unrecognized error")
UNKNOWN_TRANSIENT = Entry(
    "unknown",
    C.UNKNOWN,
    "Unrecognized temporary error",
    fixes=(),
    explanation="This error is not in our catalog yet, but its code says it is temporary: "
    "the email is retried automatically. Support can help if it keeps failing.",
    next_steps=("Nothing to do: the email is retried automatically.",),
)

ENHANCED: dict[str, Entry] = {
    "5.1.1": w.USER_UNKNOWN,
    "5.1.2": DOMAIN_UNUSABLE,
    "5.1.3": w.BAD_ADDRESS,
    "5.1.6": MOVED,
    # x.1.7 and x.1.8 are about our own address (RFC 3463), never the contact's.
    **dict.fromkeys(("4.1.7", "4.1.8", "5.1.7", "5.1.8"), w.SENDER_ADDRESS),
    "5.1.10": w.USER_UNKNOWN,
    "5.2.1": w.MAILBOX_DISABLED,
    # The sources document a full mailbox as "remove, do not retry", even as a 4.2.2.
    "4.2.2": w.MAILBOX_FULL,
    "5.2.2": w.MAILBOX_FULL,
    "5.2.3": w.TOO_LARGE,
    "5.3.4": w.TOO_LARGE,
    # Exchange Online answers 5.4.1 for addresses its directory does not know.
    "5.4.1": w.USER_UNKNOWN,
    "5.4.4": DOMAIN_UNUSABLE,
    "4.4.5": w.RATE,
    # Gmail's "Daily user sending limit exceeded".
    "5.4.5": w.QUOTA_DAILY,
    "4.4.7": w.EXPIRED,
    "5.4.7": w.EXPIRED,
    "4.7.0": DEFERRED,
    "5.7.1": NOT_AUTHORIZED,
    "5.7.8": w.AUTH_FAILED,
    "5.7.9": w.AUTH_FAILED,
    "5.7.13": w.SUSPENDED,
    "5.7.14": w.AUTH_FAILED,
    **dict.fromkeys(("5.7.20", "5.7.21", "5.7.22", "5.7.23", "5.7.24"), w.DNS_AUTH),
    **dict.fromkeys(("5.7.25", "5.7.26"), w.DNS_AUTH),
    "5.7.27": w.SENDER_ADDRESS,
    "5.7.28": w.BLOCKLISTED,
    "5.7.29": w.DNS_AUTH,
    # The IANA registry's meanings: our client's security setup (5.7.4 "Security features
    # not supported", 5.7.10 "Encryption Needed", 5.7.11 "Encryption required for requested
    # authentication mechanism"), a recipient whose mailbox or domain changed owner (RRVS).
    **dict.fromkeys(("5.7.4", "5.7.10", "5.7.11"), w.SERVER_SETTINGS),
    "5.7.17": w.USER_UNKNOWN,
    "5.7.18": DOMAIN_UNUSABLE,
    # Exchange Online gives these details meanings of its own (its NDR reference).
    "5.2.121": w.RATE,
    "5.2.122": w.RATE,
    "5.4.300": w.EXPIRED,
    "5.4.310": DOMAIN_UNUSABLE,
    "5.7.12": w.RECIPIENT_POLICY,
    "5.7.57": w.AUTH_FAILED,
    "5.7.64": w.RELAY_DENIED,
    "5.7.139": w.API_SETUP,
    "5.7.350": w.SPAM,
    "5.7.504": w.USER_UNKNOWN,
    "5.7.508": w.RATE,
    "5.7.750": w.SUSPENDED,
    **dict.fromkeys(
        ("5.7.124", "5.7.129", "5.7.133", "5.7.134", "5.7.135", "5.7.136"), w.RECIPIENT_POLICY
    ),
    **dict.fromkeys(("5.7.505", "5.7.507", "5.7.510", "5.7.513"), w.RECIPIENT_POLICY),
    **dict.fromkeys(("5.7.321", "5.7.322", "5.7.323", "5.7.324", "5.7.325"), w.RECIPIENT_POLICY),
    **dict.fromkeys(("5.7.501", "5.7.502", "5.7.503", "5.7.705"), w.SUSPENDED),
    **dict.fromkeys(("5.7.506", "5.7.509", "5.7.515"), w.DNS_AUTH),
    **dict.fromkeys((f"5.7.{detail}" for detail in (511, *range(606, 650), 708)), w.BLOCKLISTED),
}
# class.subject, when the detail is not in ENHANCED.
SUBJECTS: dict[str, Entry] = {
    "4.1": TRANSIENT,
    "4.2": MAILBOX_UNAVAILABLE,
    "4.3": TRANSIENT,
    "4.4": TRANSIENT,
    "4.5": TRANSIENT,
    "4.6": TRANSIENT,
    "4.7": DEFERRED,
    "5.1": w.BAD_ADDRESS,
    "5.2": MAILBOX_REFUSED,
    "5.5": PROTOCOL,
    "5.6": CONTENT_FORMAT,
    "5.7": NOT_AUTHORIZED,
}
BASIC: dict[int, Entry] = {
    421: SERVICE_UNAVAILABLE,
    450: MAILBOX_BUSY,
    451: TRANSIENT,
    452: TRANSIENT,
    454: TRANSIENT,
    **dict.fromkeys((500, 501, 502, 503, 504, 555), PROTOCOL),
    **dict.fromkeys((530, 534, 535), w.AUTH_FAILED),
    551: w.USER_UNKNOWN,
    552: w.MAILBOX_FULL,
    553: w.BAD_ADDRESS,
}
# Seconds before the first retry, as the sources give them: 421 "retry in 5-15 minutes",
# 450 "retry in 30-60 minutes".
SMTP_RETRY_AFTER: dict[int, int] = {421: 300, 450: 1800}
HTTP: dict[int, Entry] = {
    **dict.fromkeys((400, 402, 404, 409, 410, 422), HTTP_REFUSED),
    401: HTTP_UNAUTHORIZED,
    403: HTTP_FORBIDDEN,
    **dict.fromkeys((405, 411, 414, 415), w.REQUEST_INVALID),
    408: HTTP_UNAVAILABLE,
    413: w.TOO_LARGE,
    429: w.RATE,
    **dict.fromkeys(range(500, 600), HTTP_UNAVAILABLE),
}

# RFC 3463 names each enhanced code and RFC 5321 gives each reply code a text; a server that
# writes the name says the code, even when it prints no code or a vaguer one ("Bad
# destination mailbox address" is 5.1.1's name, "Syntax error in parameters or arguments"
# 501's text). Only names that say one thing: "mailbox unavailable" is both 450's and 550's.
_STANDARD_NAMES: dict[str, str] = {
    "5.1.1": r"bad destination mailbox address(?! syntax)",
    "5.1.2": r"bad destination system address",
    "5.1.3": r"bad destination mailbox address syntax",
    "5.1.6": r"no forwarding address",
    "5.1.7": r"bad sender's mailbox address syntax|bad sender's system address",
    "5.2.1": r"mailbox disabled, not accepting",
    "5.2.2": r"exceeded storage allocation",
    "5.2.3": r"message length exceeds administrative limit",
    "5.3.4": r"message too big for system",
    "4.3.2": r"system not accepting network messages|insufficient system storage",
    "4.4.1": r"no answer from host",
    "4.4.3": r"routing server failure",
    "4.4.6": r"routing loop detected",
    "5.4.4": r"unable to route",
    "5.7.1": r"delivery not authorized, message refused",
    "5.7.4": r"security features not supported|unrecognized authentication type",
    "5.7.8": r"authentication credentials invalid",
    "5.7.9": r"authentication mechanism is too weak",
    "5.7.10": r"encryption needed|encryption required for requested authentication",
    "5.7.17": r"mailbox owner has changed",
    "5.7.18": r"domain owner has changed",
    "4.0.0": r"local error in processing|service not available, closing transmission",
    "5.5.0": r"syntax error in parameters or arguments|syntax error, command unrecognized"
    r"|command not implemented|bad sequence of commands|command parameter not implemented",
}


def _named(code: str) -> Entry:
    return ENHANCED.get(code) or SUBJECTS.get(code[:3], TRANSIENT)


STANDARD_NAMES = TextIndex(
    tuple(
        dataclasses.replace(_named(code), match=name, examples=(), source="RFC 3463; RFC 5321")
        for code, name in _STANDARD_NAMES.items()
    )
)
