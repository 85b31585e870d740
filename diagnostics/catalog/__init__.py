"""The catalog of known sending failures, as data a support engineer can extend.

To add a failure, add an `Entry` to the module of its source (nylas.py, api.py,
network.py, smtp.py), or to words.py when its wording is generic, with its evidence:
`examples=` the raw errors
it diagnoses, verbatim, taken from ../shared/seed-errors.jsonl or
tests/diagnostics/data/provider-errors.jsonl when they hold one, and `source=` where they
come from ("seed 004: SendGrid common SMTP errors", a provider's documentation page, or
"written ..." for a reply written in a provider's wording). Within the text entries the
first match wins: place a narrower entry before a broader one.
tests/diagnostics/test_catalog_examples.py diagnoses every example: it fails when an
earlier entry takes the new entry's examples (the new one is shadowed), or when the new
entry takes an older one's (it is too broad). A new real error also belongs in
tests/diagnostics/data/provider-errors.jsonl, which checks its category and retry.

TEXT is searched first, module by module in PRECEDENCE order: the message families of a
known source, then telling words. codes.py holds what codes alone mean; HINTS decide only
when no code does (precedence: diagnostics.diagnosis).
"""

from __future__ import annotations

from diagnostics.catalog import api, network, nylas, pipeline, smtp, words
from diagnostics.catalog.codes import (
    BASIC,
    ENHANCED,
    HTTP,
    SENDER_REFUSED,
    SMTP_RETRY_AFTER,
    STANDARD_NAMES,
    SUBJECTS,
    UNKNOWN,
    UNKNOWN_TRANSIENT,
)
from diagnostics.catalog.defaults import DEFAULTS
from diagnostics.catalog.entry import Entry, TextIndex, words_of
from diagnostics.catalog.fields import CODES as ERROR_CODES
from diagnostics.catalog.fields import field_entry

# Each module's entries are tried before the next module's: the narrower source first.
# Moving words.py before any module fails examples of tests/diagnostics/test_catalog_examples.py;
# the order of the first three is a tie-break that no example needs today.
PRECEDENCE = (
    # Our own refusals first: written by the pipeline when it sent nothing, in our words,
    # they must never be read as a server's reply that happens to share a word.
    pipeline,
    # Nylas (and the Datananas wrapper) first: its `[status] message - source_error` is the
    # outermost layer of the text and quotes the provider's error inside it, and the
    # product's table (seed 000) prescribes the fix for the wrapper's message. It words its
    # own causes generically ("Authentication failed: Invalid or revoked refresh token",
    # "Quota exceeded: ... sending quota"), which words.py would read as other causes.
    nylas,
    # Sending APIs before SMTP replies: their error names and messages belong to one
    # provider, which answers the same words over SMTP too (SendGrid's "550 The from address
    # does not match a verified Sender Identity", SES' "554 Message rejected: Email address
    # is not verified"), where smtp.py's families are any server's wording.
    api,
    # Connection failures before SMTP families: a stack trace with no server reply quotes
    # words those would misread (Node's `code: 'ESOCKET'`, .NET's "Failure sending mail"),
    # and a connection lost after the message was handed over is "probably delivered".
    network,
    # SMTP families before telling words: each names the one cause that the generic words of
    # the same reply would misread ("temporarily blocked from sending emails due to repeated
    # bad requests" is a pause, not a suspended account; "larger than the current system
    # limit or the recipient's mailbox is full" is a size first, not a full mailbox).
    smtp,
    # Telling words last: the broadest patterns, wording whose meaning is plain whatever
    # server wrote it, once every narrower family above has had its chance.
    words,
)
TEXT = TextIndex(tuple(entry for module in PRECEDENCE for entry in module.ENTRIES))
TEXT_BY_CODE = {entry.code: entry for entry in TEXT.entries}
HINTS = TextIndex(words.HINTS)

__all__ = [
    "BASIC",
    "DEFAULTS",
    "ENHANCED",
    "ERROR_CODES",
    "HINTS",
    "HTTP",
    "PRECEDENCE",
    "SENDER_REFUSED",
    "SMTP_RETRY_AFTER",
    "STANDARD_NAMES",
    "SUBJECTS",
    "TEXT",
    "TEXT_BY_CODE",
    "UNKNOWN",
    "UNKNOWN_TRANSIENT",
    "Entry",
    "field_entry",
    "words_of",
]
