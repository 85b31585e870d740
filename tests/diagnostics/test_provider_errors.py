"""Real errors from provider documentation, diagnosed mostly by the structural rules.

Each line of data/provider-errors.jsonl has the raw error, the expected category and
retry, and the document it was quoted from.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from diagnostics.diagnosis import diagnose
from diagnostics.vocabulary import Category, Retry

CASES = [
    json.loads(line)
    for line in (Path(__file__).parent / "data" / "provider-errors.jsonl").open(encoding="utf-8")
]


@pytest.mark.parametrize("case", CASES, ids=[case["source"] for case in CASES])
def test_it_diagnoses_documented_provider_errors(case: dict) -> None:
    diagnosis = diagnose(case["raw"])

    assert (diagnosis.category, diagnosis.retry) == (case["category"], case["retry"])


def test_it_has_a_cited_table_of_at_least_eighty_provider_errors() -> None:
    assert len(CASES) >= 80
    assert all(case["source"] and case["raw"] for case in CASES)
    assert {case["category"] for case in CASES} <= set(Category.values)
    assert {case["retry"] for case in CASES} <= set(Retry.values)
    assert max(Counter(case["raw"] for case in CASES).values()) == 1
