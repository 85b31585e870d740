"""Every error of the product's source documents gets an acceptable diagnosis."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from diagnostics.data import SEED_ERRORS_PATH
from diagnostics.diagnosis import diagnose

SEEDS = [json.loads(line) for line in SEED_ERRORS_PATH.open(encoding="utf-8")]


@pytest.mark.parametrize("seed", SEEDS, ids=[seed["source"] for seed in SEEDS])
def test_it_diagnoses_each_seed_error_acceptably(seed: dict) -> None:
    diagnosis = diagnose(seed["raw"])

    assert diagnosis.category in seed["categories"]
    assert diagnosis.retry in seed["retry"]
    if seed["fixes"]:
        assert diagnosis.fixes
        assert diagnosis.fixes[0] in seed["fixes"]


@pytest.mark.parametrize("seed", SEEDS, ids=[seed["source"] for seed in SEEDS])
def test_it_covers_each_seed_error_with_a_catalog_entry(seed: dict) -> None:
    diagnosis = diagnose(seed["raw"])

    assert diagnosis.rule in ("error code", "text")
    assert diagnosis.code != "unknown"


SHARED = Path(__file__).resolve().parents[3] / "shared" / "seed-errors.jsonl"


@pytest.mark.skipif(not SHARED.exists(), reason="../shared is not beside the project here")
def test_it_keeps_an_unchanged_copy_of_the_shared_seed_errors():
    assert SEED_ERRORS_PATH.read_bytes() == SHARED.read_bytes()
