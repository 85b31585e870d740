"""The product's own refusals: what the sending pipeline wrote, when it did not send.

These are our words (sequences.addresses and the send loop write them), so they are
matched exactly and first: a refusal that never reached a server must not be read as one
of its replies.
"""

from __future__ import annotations

from diagnostics.catalog.entry import Entry
from diagnostics.vocabulary import Category as C
from diagnostics.vocabulary import Fix as F
from diagnostics.vocabulary import Side

SOURCE = "the sending pipeline's own refusals (sequences.addresses)"

# network.py's entry for a server that lost the connection is this one in other words.
DELIVERY_UNCERTAIN = Entry(
    "pipeline.delivery_uncertain",
    C.UNKNOWN,
    "Probably delivered, not confirmed",
    match=r"delivery uncertain",
    side=Side.PROVIDER,
    fixes=(),
    explanation="We handed this email to your mail server and lost the connection (or "
    "our worker stopped) before it confirmed. It was probably delivered, so it is not "
    "sent again by itself: that could give the contact two copies.",
    next_steps=(
        "Look for its Message-ID in the mailbox's Sent folder.",
        "Found: nothing to do. Not found: an admin can send it again anyway.",
    ),
    examples=(
        "Delivery uncertain: sending stopped after the message was handed to the SMTP "
        "server (Message-ID <1.2@acme.test>). It may have been delivered; check the "
        "mailbox's Sent folder before rescheduling.",
        "Delivery uncertain: the message was handed to the SMTP server, which then gave "
        "no reply (TimeoutError: timed out). It may have been delivered.",
    ),
    source=SOURCE,
)

ENTRIES: tuple[Entry, ...] = (
    DELIVERY_UNCERTAIN,
    Entry(
        "pipeline.mailbox_secret_unreadable",
        C.MAILBOX_CONNECTION,
        "The mailbox's stored password cannot be read",
        match=r"not sent: the mailbox's stored password",
        explanation="The mailbox's password is stored encrypted, and none of the server's "
        "keys opens it any more (a key was rotated away). The mailbox's emails are held "
        "until it is reconnected.",
        next_steps=(
            "Reconnect the mailbox with its password.",
            "Operators: keep the old key in MAILBOX_SECRET_KEYS until every mailbox is "
            "re-encrypted.",
        ),
        examples=(
            "Not sent: the mailbox's stored password cannot be decrypted with the keys of "
            "MAILBOX_SECRET_KEYS (a key was rotated away?). Reconnect the mailbox with its "
            "password.",
        ),
        source=SOURCE,
    ),
    Entry(
        "pipeline.mailbox_unreachable",
        C.MAILBOX_CONNECTION,
        "The mailbox's SMTP server cannot be reached",
        match=r"not sent: the mailbox's smtp server could not be reached",
        explanation="The mailbox's SMTP server refused, dropped or ignored several connections "
        "in a row, so its emails are held instead of each being tried. It is tried again every "
        "few minutes, and its emails are rescheduled as soon as it answers.",
        next_steps=(
            "Nothing to do if the server was down for a while: sending resumes by itself.",
            "If it lasts, check the mailbox's SMTP host and port, then Resynchronize.",
        ),
        examples=(
            "Not sent: the mailbox's SMTP server could not be reached 3 times in a row (last: "
            "ConnectionRefusedError: [Errno 111] Connection refused). Its emails wait until it "
            "connects again.",
        ),
        source=SOURCE,
    ),
    Entry(
        "pipeline.step_variable_missing",
        C.REQUEST_INVALID,
        "The step uses a detail this contact does not have",
        match=r"not sent: the step's",
        side=Side.MESSAGE,
        fixes=(F.RESCHEDULE, F.REVIEW_CONTENT),
        explanation="The step prints a contact detail (such as {{ company }}) that is empty "
        "for this contact, or a variable that does not exist. Sent as it was, the contact "
        'would have read "Hi , about ", so nothing was sent.',
        next_steps=(
            "Fill in the missing detail on the contact, or give the variable a fallback in "
            'the step ({{ company|default:"your team" }}).',
            "Then reschedule the email.",
        ),
        examples=(
            "Not sent: the step's body uses {{ company }}, and the contact Pat Lee "
            "<pat@acme.test> has none. Fill it in on the contact, or give it a fallback in "
            'the step: {{ company|default:"…" }}.',
            "Not sent: the step's subject uses {{ frist_name }}, which is not a variable a "
            "step can use (they are: first_name, last_name, full_name, company, job_title, "
            "email, sender_name).",
        ),
        source=SOURCE,
    ),
    Entry(
        "pipeline.message_unwritable",
        C.REQUEST_INVALID,
        "The step's template could not be written out",
        match=r"not sent: the message could not be written",
        side=Side.MESSAGE,
        fixes=(F.REVIEW_CONTENT,),
        explanation="The step's subject or body has a template error (an unclosed tag, an "
        "unknown filter), so the email could not be written and nothing was sent. The error "
        "below says where.",
        next_steps=("Correct the step's template.", "Then reschedule its blocked emails."),
        examples=(
            "Not sent: the message could not be written: TemplateSyntaxError: Unclosed tag on "
            "line 1: 'if'. Looking for one of: elif, else, endif.",
        ),
        source=SOURCE,
    ),
    Entry(
        "pipeline.recipient_invalid",
        C.RECIPIENT_ADDRESS_INVALID,
        "The contact's address is not a valid email address",
        match=r"not sent: the contact's address",
        explanation="The contact's address is not one valid email address, so nothing was "
        "sent to anyone. Correct the address and the email is rescheduled.",
        next_steps=(
            "Read the reason below: it names what is wrong with the address.",
            "Correct the contact's address (or suppress the contact).",
        ),
        examples=(
            "Not sent: the contact's address 'bob,nobody@mta.test' is not a valid email "
            "address: The email address contains invalid characters before the @-sign: ','.",
            "Not sent: the contact's address 'alice' is not a valid email address: An email "
            "address must have an @-sign.",
        ),
        source=SOURCE,
    ),
    Entry(
        "pipeline.recipient_needs_smtputf8",
        C.RECIPIENT_ADDRESS_INVALID,
        "The mailbox's server cannot send to this non-ASCII address",
        match=r"not sent: the address",
        explanation="The address has non-ASCII characters before the @-sign. Only servers "
        "that offer SMTPUTF8 (RFC 6531) can carry it, and this mailbox's server does not. "
        "Nothing was sent.",
        next_steps=(
            "Use the contact's plain ASCII address if they have one.",
            "Or send from a mailbox whose provider supports international addresses "
            "(Google and Microsoft do).",
        ),
        examples=(
            "Not sent: the address josé@example.test has non-ASCII characters before the "
            "@-sign, and the mailbox's server does not offer SMTPUTF8 (RFC 6531).",
        ),
        source=SOURCE,
    ),
)
