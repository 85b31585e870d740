"""Whatever the text, diagnose answers within the vocabulary and keeps the text whole."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from diagnostics.diagnosis import Diagnosis, diagnose
from diagnostics.vocabulary import Category, Fix, Retry, Side

SMTP_LIKE = st.builds(
    "{} {}.{}.{} {}".format,
    st.integers(100, 999),
    st.integers(0, 9),
    st.integers(0, 9),
    st.integers(0, 999),
    st.text(max_size=200),
)
NON_ASCII = st.text(
    alphabet=st.characters(min_codepoint=0x80, max_codepoint=0x10FFFF), max_size=300
)


def assert_well_formed(raw: str, diagnosis: Diagnosis) -> None:
    assert diagnosis.raw is raw
    assert diagnosis.category in Category.values
    assert diagnosis.retry in Retry.values
    assert diagnosis.side in Side.values
    assert set(diagnosis.fixes) <= set(Fix.values)
    assert diagnosis.fixes or diagnosis.retry == Retry.AUTO
    assert diagnosis.retry_after is None or (
        diagnosis.retry == Retry.AUTO and diagnosis.retry_after > 0
    )
    assert all((diagnosis.code, diagnosis.title, diagnosis.explanation))
    assert json.loads(json.dumps(diagnosis.to_json()))["raw"] == raw


@given(st.text())
def test_it_diagnoses_any_text(raw: str) -> None:
    assert_well_formed(raw, diagnose(raw))


@given(SMTP_LIKE | NON_ASCII)
def test_it_diagnoses_code_like_and_non_ascii_text(raw: str) -> None:
    assert_well_formed(raw, diagnose(raw))


@given(st.binary(max_size=2000))
def test_it_diagnoses_binary_junk_however_decoded(junk: bytes) -> None:
    for raw in (
        junk.decode("utf-8", "replace"),
        junk.decode("utf-8", "surrogateescape"),
        junk.decode("latin-1"),
    ):
        assert_well_formed(raw, diagnose(raw))


@settings(max_examples=5, deadline=None)
@given(st.text(min_size=1, max_size=20), st.sampled_from(["", "550 5.1.1 User unknown "]))
def test_it_diagnoses_a_megabyte_of_text(chunk: str, head: str) -> None:
    raw = head + chunk * (1_000_000 // len(chunk) + 1)

    diagnosis = diagnose(raw)

    assert_well_formed(raw, diagnosis)
    if head:
        assert diagnosis.code == "smtp.5.1.1"
