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
    examples=("421 4.7.0 Service temporarily unavailable",),
    source="seed 003: SMTP/API error codes reference",
    next_steps=("Nothing to do: the email is retried in 5 to 15 minutes.",),
)
MAILBOX_BUSY = Entry(
    "smtp.450.mailbox_busy",
    C.RECIPIENT_UNAVAILABLE,
    "Recipient mailbox temporarily unavailable",
    match=r"mailbox (?:is )?temporarily unavailable|mailbox (?:is )?busy|mailbox is locked",
    examples=("450 4.7.1 Mailbox temporarily unavailable",),
    source="seed 003: SMTP/API error codes reference",
)

ENTRIES: tuple[Entry, ...] = (
    SERVICE_UNAVAILABLE,
    MAILBOX_BUSY,
    # Outlook.com's 4.7.650-651: a throttle for reputation, before words.py reads the
    # reputation as a block.
    Entry(
        "microsoft.ip_throttled",
        C.RATE_LIMITED,
        "The receiving server throttles our IP for its reputation",
        match=r"temporarily rate limited due to ip reputation",
        examples=(
            "451 4.7.651 The mail server [x.xx.xx.xx] has been temporarily rate limited due to "
            "IP reputation. For e-mail delivery information, see https://postmaster.live.com "
            "(S3114) [#.prod.outlook.com #]",
        ),
        source="Outlook.com, github.com/ActiveCampaign/smtp-field-manual/pull/89",
        explanation="Outlook.com slows down mail from our sending IP while its reputation is "
        "low. The email is retried automatically; check the blocklists if it keeps happening.",
    ),
    Entry(
        "smtp.451.server_busy",
        C.RATE_LIMITED,
        "The receiving server is too busy",
        match=r"server (?:is )?too busy|server busy|too busy",
        examples=(
            "451 4.4.5 Server too busy",
            "451 4.7.500 Server busy. Please try again later from [192.0.2.1]. (AS761)",
        ),
        source="seed 003: SMTP/API error codes reference; Exchange Online NDRs",
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
        examples=(
            "550 Requested action not taken: Mailbox unavailable",
            "550 5.5.0 Requested action not taken: mailbox unavailable.",
        ),
        source="seed 004: SendGrid common SMTP errors; outlook.com bounce, pastebin.com/r35f04G9",
        explanation="The recipient's server refused the address for good: it is most likely "
        "fake, mistyped or closed. The contact is not emailed again.",
    ),
    # Postfix's access maps refuse with 554 (its default reject code); Exchange's directory
    # check (words.py's 5.4.1, an unknown recipient) words it alike but answers 550.
    Entry(
        "smtp.554.recipient_access_denied",
        C.ACCOUNT_SETUP,
        "The server refused this recipient for the mailbox",
        match=r"recipient address rejected: access denied",
        smtp=(554,),
        examples=(
            "[11:22:02.991][2fff2f7c] SMTP[ERROR]: MailSo\\Smtp\\Exceptions\\"
            'NegativeResponseException: Failed to add recipient "user2@gmail.com": 554 5.7.1 '
            "<user2@gmail.com>: Recipient address rejected: Access denied in "
            "/var/www/html/rainloop/rainloop/v/1.14.0/app/libraries/MailSo/Smtp/SmtpClient.php:794",
        ),
        source="Postfix via RainLoop, github.com/RainLoop/rainloop-webmail/issues/2018",
        fixes=(F.ADMIN_SETUP, F.RESYNC_MAILBOX),
        explanation="The mailbox's SMTP server refused to accept this recipient from us (it "
        "does not relay for an unauthenticated or unlisted sender). An admin must check the "
        "mailbox's SMTP setup.",
    ),
    # 1&1's servers (web.de, GMX, IONOS) answer a message whose headers break RFC 5322 so.
    Entry(
        "united_internet.policy_restrictions",
        C.CONTENT_REJECTED,
        "The message's headers were refused",
        match=r"reject due to policy restrictions",
        examples=(
            "554 Nemesis ESMTP Service not available Transaction failed Reject due to policy "
            "restrictions.",
        ),
        source="web.de, github.com/zammad/zammad/issues/4630",
        explanation="The recipient's provider refused the message's headers (Date, From, To "
        "or Subject malformed or repeated) or its sending host. Check the template's headers.",
    ),
    Entry(
        "sendgrid.temporarily_blocked",
        C.RATE_LIMITED,
        "Sending paused after repeated bad requests",
        match=r"temporarily blocked from sending",
        examples=(
            "550 Requested action not taken: You are temporarily blocked from sending emails due "
            "to repeated bad requests.",
        ),
        source="seed 004: SendGrid common SMTP errors",
        explanation="The server paused our sending for a few minutes after too many bad "
        "requests. The email is retried automatically.",
    ),
    Entry(
        "sendgrid.552.too_large_or_full",
        C.MESSAGE_TOO_LARGE,
        "Message too large (or the mailbox is full)",
        match=r"larger than the current system limit",
        examples=(
            "552 This message is larger than the current system limit or the recipient's mailbox "
            "is full.",
        ),
        source="seed 004: SendGrid common SMTP errors",
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
        examples=("552 Mail refused - Delayed Bounce - Unable to Parse Server Reason",),
        source="seed 004: SendGrid common SMTP errors",
        explanation="The recipient's server refused the email later, without a readable "
        "reason; such addresses rarely work. The contact is not emailed again.",
    ),
)
