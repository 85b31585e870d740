"""Pages by family: sequences and their emails, mailboxes, support's review of accounts.

Every view is thin: `access` finds what the user may see (404 otherwise) and checks what
they may do (403), one service or selector call does the work, then a template renders.
"""

from __future__ import annotations
