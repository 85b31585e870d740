"""The catalog of known sending failures, as data a support engineer can extend.

To add a failure, add an `Entry` to the module of its source (nylas.py, api.py, smtp.py),
or to words.py when its wording is generic. Within the text entries the first match wins:
place a narrower entry before a broader one. Then add the raw error and its expected
diagnosis to the tests (tests/diagnostics/data/provider-errors.jsonl).

TEXT is searched first, in this order: specific message families, then telling words.
codes.py holds what codes alone mean; HINTS decide only when no code does
(precedence: diagnostics.diagnosis).
"""

from __future__ import annotations

from diagnostics.catalog import api, nylas, smtp, words
from diagnostics.catalog.codes import (
    BASIC,
    ENHANCED,
    HTTP,
    SMTP_RETRY_AFTER,
    SUBJECTS,
    UNKNOWN,
    UNKNOWN_TRANSIENT,
)
from diagnostics.catalog.defaults import DEFAULTS
from diagnostics.catalog.entry import Entry, TextIndex, words_of

TEXT = TextIndex((*nylas.ENTRIES, *api.ENTRIES, *smtp.ENTRIES, *words.ENTRIES))
HINTS = TextIndex(words.HINTS)

__all__ = [
    "BASIC",
    "DEFAULTS",
    "ENHANCED",
    "HINTS",
    "HTTP",
    "SMTP_RETRY_AFTER",
    "SUBJECTS",
    "TEXT",
    "UNKNOWN",
    "UNKNOWN_TRANSIENT",
    "Entry",
    "words_of",
]
