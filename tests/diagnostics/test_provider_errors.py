"""Real errors from provider documentation, diagnosed mostly by the structural rules.

Each line of data/provider-errors.jsonl has the raw error, the expected category and
retry, and the document it was quoted from.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from diagnostics.data import SEED_ERRORS_PATH
from diagnostics.diagnosis import diagnose
from diagnostics.vocabulary import Category

CASES = [
    json.loads(line)
    for line in (Path(__file__).parent / "data" / "provider-errors.jsonl").open(encoding="utf-8")
]


@pytest.mark.parametrize("case", CASES, ids=[case["source"] for case in CASES])
def test_it_diagnoses_documented_provider_errors(case: dict) -> None:
    diagnosis = diagnose(case["raw"])

    assert (diagnosis.category, diagnosis.retry) == (case["category"], case["retry"])


def test_it_checks_every_category_against_real_errors() -> None:
    # Each kind of failure a rep may be told about is tried on real provider wording
    # (provider_error, the catch-all of a provider's own outage, by the seed errors).
    seeds = [json.loads(line) for line in SEED_ERRORS_PATH.open(encoding="utf-8")]
    documented = {case["category"] for case in CASES} | {seed["categories"][0] for seed in seeds}

    assert set(Category.values) - {Category.UNKNOWN} <= documented
    assert all(case["source"] for case in CASES), "each case cites where it comes from"
    assert max(Counter(case["raw"] for case in CASES).values()) == 1, "no case twice"
