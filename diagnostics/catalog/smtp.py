"""SMTP replies whose wording is specific enough to name one cause.

Sources: seed 003 (SMTP/API error codes reference) and seed 004 (SendGrid's common SMTP
errors). Generic SMTP wording ("user unknown", "mailbox full"…) is in words.py.
"""

from __future__ import annotations

from diagnostics.catalog.entry import Entry
from diagnostics.vocabulary import Category as C
from diagnostics.vocabulary import Fix as F

SERVICE_UNAVAILABLE = Entry(
    "smtp.421.service_unavailable",
    C.TEMPORARY_FAILURE,
    "The receiving server was briefly unavailable",
    match=r"service (?:temporarily )?(?:unavailable|not available)",
    smtp=(421,),
    next_steps=("Nothing to do: the email is retried in 5 to 15 minutes.",),
)
MAILBOX_BUSY = Entry(
    "smtp.450.mailbox_busy",
    C.RECIPIENT_UNAVAILABLE,
    "Recipient mailbox temporarily unavailable",
    match=r"mailbox (?:is )?temporarily unavailable|mailbox (?:is )?busy|mailbox is locked",
)

ENTRIES: tuple[Entry, ...] = (
    SERVICE_UNAVAILABLE,
    MAILBOX_BUSY,
    Entry(
        "smtp.451.server_busy",
        C.RATE_LIMITED,
        "The receiving server is too busy",
        match=r"server (?:is )?too busy|server busy|too busy",
        explanation="The receiving server is overloaded and asked us to come back later. "
        "The email is retried; if this recurs, lower the sending rate.",
        next_steps=("Nothing to do now.", "If it recurs, lower the mailbox's sending rate."),
    ),
    Entry(
        "smtp.550.mailbox_unavailable",
        C.RECIPIENT_UNKNOWN,
        "Recipient mailbox unavailable",
        match=r"mailbox unavailable",
        smtp=(550,),
        explanation="The recipient's server refused the address for good: it is most likely "
        "fake, mistyped or closed. The contact is not emailed again.",
    ),
    Entry(
        "sendgrid.temporarily_blocked",
        C.RATE_LIMITED,
        "Sending paused after repeated bad requests",
        match=r"temporarily blocked from sending",
        explanation="The server paused our sending for a few minutes after too many bad "
        "requests. The email is retried automatically.",
    ),
    Entry(
        "sendgrid.552.too_large_or_full",
        C.MESSAGE_TOO_LARGE,
        "Message too large (or the mailbox is full)",
        match=r"larger than the current system limit",
        fixes=(F.REDUCE_SIZE, F.SUPPRESS_CONTACT),
        explanation="The server refused the message as too large for it, or because the "
        "recipient's mailbox is full. Shorten the message or remove attachments first.",
        next_steps=("Remove attachments or shorten the message.", "Then reschedule."),
    ),
    Entry(
        "sendgrid.delayed_bounce",
        C.RECIPIENT_UNKNOWN,
        "The recipient's server bounced the email without a reason",
        match=r"delayed bounce|unable to parse server reason",
        explanation="The recipient's server refused the email later, without a readable "
        "reason; such addresses rarely work. The contact is not emailed again.",
    ),
)
