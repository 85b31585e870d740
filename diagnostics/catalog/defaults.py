"""What each category means for the rep, when an entry does not say more.

`retry` comes from the contract's category table and is never overridden by an entry:
the contract makes the category's retry beat the code class. UNKNOWN's retry follows the
code class instead (diagnostics.diagnosis).
"""

from __future__ import annotations

from dataclasses import dataclass

from diagnostics.vocabulary import Category, Fix, Retry, Side


@dataclass(frozen=True, slots=True)
class Defaults:
    retry: Retry
    side: Side
    fixes: tuple[Fix, ...]
    explanation: str
    next_steps: tuple[str, ...]


_WAIT = ("Nothing to do: the email is retried automatically.",)

DEFAULTS: dict[Category, Defaults] = {
    Category.RECIPIENT_ADDRESS_INVALID: Defaults(
        Retry.AFTER_FIX,
        Side.RECIPIENT,
        (Fix.EDIT_CONTACT, Fix.SUPPRESS_CONTACT),
        "The contact's email address is malformed or cannot receive mail, so nothing was sent. "
        "Correct the address and the email is rescheduled.",
        ("Check the contact's address for typos or unsupported characters.", "Correct it."),
    ),
    Category.RECIPIENT_UNKNOWN: Defaults(
        Retry.NEVER,
        Side.RECIPIENT,
        (Fix.SUPPRESS_CONTACT, Fix.EDIT_CONTACT),
        "The recipient's server says this mailbox does not exist or is no longer active. "
        "The contact is not emailed again unless you correct the address.",
        ("Look for a typo in the address and correct it.", "Otherwise, suppress the contact."),
    ),
    Category.RECIPIENT_MAILBOX_FULL: Defaults(
        Retry.NEVER,
        Side.RECIPIENT,
        (Fix.SUPPRESS_CONTACT,),
        "The recipient's mailbox is over its storage quota and refuses new mail; such "
        "mailboxes are usually abandoned. The contact is not emailed again.",
        ("Suppress the contact.", "Reach the contact another way if they matter."),
    ),
    Category.RECIPIENT_UNAVAILABLE: Defaults(
        Retry.AUTO,
        Side.RECIPIENT,
        (),
        "The recipient's mailbox could not take the email right now. "
        "It is retried automatically later.",
        _WAIT,
    ),
    Category.MAILBOX_CONNECTION: Defaults(
        Retry.AFTER_FIX,
        Side.SENDER,
        (Fix.RESYNC_MAILBOX, Fix.ADMIN_SETUP),
        "The sending mailbox could not sign in: its password or authorization was refused, "
        "expired or revoked. Reconnect it and the waiting emails are rescheduled.",
        ("Reconnect the sending mailbox.", "If it fails again, ask an admin to check it."),
    ),
    Category.ACCOUNT_SETUP: Defaults(
        Retry.AFTER_FIX,
        Side.SENDER,
        (Fix.ADMIN_SETUP, Fix.CONTACT_SUPPORT),
        "Something is missing or wrong in the sending account's configuration, so the "
        "provider refused the email. An admin must fix it, then the emails are rescheduled.",
        ("Ask an admin to complete the sending account's setup.", "Then reschedule."),
    ),
    Category.CONTENT_REJECTED: Defaults(
        Retry.AFTER_FIX,
        Side.MESSAGE,
        (Fix.REVIEW_CONTENT, Fix.CHECK_BLACKLIST),
        "The receiving server refused the message itself, usually because it looked like "
        "spam. Change the step's content before it is sent again.",
        ("Review the step's wording, links and attachments.", "Then reschedule."),
    ),
    Category.SENDER_BLOCKED: Defaults(
        Retry.AFTER_FIX,
        Side.SENDER,
        (Fix.CHECK_BLACKLIST, Fix.CHECK_DNS_AUTH, Fix.CONTACT_SUPPORT),
        "The receiving server refused mail from your domain or sending server, because of "
        "its reputation or missing authentication. Check blocklists and SPF, DKIM, DMARC.",
        ("Run the blocklist check.", "Check the domain's SPF, DKIM and DMARC records."),
    ),
    Category.ACCOUNT_SUSPENDED: Defaults(
        Retry.AFTER_FIX,
        Side.SENDER,
        (Fix.CONTACT_SUPPORT, Fix.ADMIN_SETUP),
        "The provider has suspended or restricted the sending account. Only an admin or the "
        "provider's support can lift it; the emails wait until then.",
        ("Ask an admin to contact the provider.", "Reschedule once sending is restored."),
    ),
    Category.RECIPIENT_POLICY: Defaults(
        Retry.AFTER_FIX,
        Side.RECIPIENT,
        (Fix.RESCHEDULE, Fix.SUPPRESS_CONTACT),
        "The recipient's organization refuses this email by its own rules. The address "
        "exists; only the recipient's side can let it through.",
        ("Ask the contact to allow your address.", "Reschedule then, or suppress the contact."),
    ),
    Category.RATE_LIMITED: Defaults(
        Retry.AUTO,
        Side.PROVIDER,
        (),
        "The provider asked us to slow down. The email is retried automatically with a delay.",
        _WAIT,
    ),
    Category.QUOTA_EXCEEDED: Defaults(
        Retry.AUTO,
        Side.SENDER,
        (),
        "The sending mailbox used up its sending quota. The email is sent automatically "
        "once the quota resets.",
        _WAIT,
    ),
    Category.MESSAGE_TOO_LARGE: Defaults(
        Retry.AFTER_FIX,
        Side.MESSAGE,
        (Fix.REDUCE_SIZE,),
        "The message or an attachment is larger than the server accepts. Shrink it or share "
        "files as links, then reschedule.",
        ("Move attachments to links or shrink images.", "Then reschedule."),
    ),
    Category.PROVIDER_ERROR: Defaults(
        Retry.AFTER_FIX,
        Side.PROVIDER,
        (Fix.CONTACT_SUPPORT, Fix.RESCHEDULE),
        "The sending provider refused the email without a more precise reason. Support can "
        "look into it with the raw error.",
        ("Hand the case to support with the raw error.",),
    ),
    Category.TEMPORARY_FAILURE: Defaults(
        Retry.AUTO,
        Side.PROVIDER,
        (),
        "A server or network on the way failed for a moment. The email is retried automatically.",
        _WAIT,
    ),
    Category.REQUEST_INVALID: Defaults(
        Retry.AFTER_FIX,
        Side.PROVIDER,
        (Fix.CONTACT_SUPPORT,),
        "Our request to the sending provider was malformed: a defect on our side. Support "
        "needs the raw error to fix it.",
        ("Hand the case to support with the raw error.",),
    ),
    Category.UNKNOWN: Defaults(
        Retry.AFTER_FIX,
        Side.PROVIDER,
        (Fix.CONTACT_SUPPORT,),
        "This error is not in our catalog yet. Support can read the raw error and tell you "
        "what to do.",
        ("Hand the case to support with the raw error.",),
    ),
}
