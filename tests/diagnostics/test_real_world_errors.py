"""The classifier on real errors nobody wrote its patterns for, as a whole.

data/real-world-errors.jsonl holds verbatim errors from public GitHub issues, library
traces and provider documentation, each with the categories and retries a right diagnosis
may give. Single cases may miss (the catalog is not tuned to each), the rates may not.
"""

from __future__ import annotations

from collections import Counter

from bench.accuracy import REAL_WORLD, load, score

CASES = load(REAL_WORLD)


def test_it_gets_the_category_and_the_retry_right_on_real_errors() -> None:
    total, _ = score(CASES)

    assert total.category / total.cases >= 0.95
    assert total.retry / total.cases >= 0.98


def test_it_never_bounces_a_contact_for_an_error_that_is_not_theirs() -> None:
    total, _ = score(CASES)

    wrong = [(case["raw"], code) for case, _, retry, code in total.misses if retry == "never"]
    assert total.wrong_never == 0, wrong


def test_it_keeps_the_corpus_sourced_and_distinct() -> None:
    assert len(CASES) >= 300
    assert all(case["source"] and case["categories"] and case["retry"] for case in CASES)
    assert max(Counter(case["raw"] for case in CASES).values()) == 1, "no case twice"
