"""Data the diagnostics ship: the errors of the product's source documents.

`seed-errors.jsonl` is an unchanged copy of `../shared/seed-errors.jsonl` (the shared file
wins when they differ: refresh the copy). The demo fails an email with each of them, and
the tests check that each is diagnosed acceptably.
"""

from __future__ import annotations

from pathlib import Path

SEED_ERRORS_PATH = Path(__file__).parent / "seed-errors.jsonl"
