"""The catalog's own rules, which keep its prefilter sound."""

from __future__ import annotations

import re

import pytest

from diagnostics import catalog
from diagnostics.catalog import Entry
from diagnostics.catalog.entry import TextIndex, words_of
from diagnostics.vocabulary import Category, Retry


def index(pattern: str) -> TextIndex:
    return TextIndex((Entry("test.entry", Category.UNKNOWN, "Test", match=pattern),))


def first(text_index: TextIndex, text: str) -> str | None:
    lowered = text.lower()
    found = next(text_index.matches(lowered, words_of(lowered), None, None), None)
    return found[1] if found else None


@pytest.mark.parametrize("pattern", ["user(?:s)? unknown", "users? unknown", r"\buser", "(?:a|b)"])
def test_it_refuses_alternatives_that_do_not_start_with_a_whole_word(pattern: str) -> None:
    with pytest.raises(ValueError, match="must start with a whole lowercase word"):
        index(pattern)


@pytest.mark.parametrize("text_index", [catalog.TEXT, catalog.HINTS, catalog.STANDARD_NAMES])
def test_it_compiles_every_pattern_of_the_catalog(text_index: TextIndex) -> None:
    # The index compiles a pattern when a line first needs it: a broken one must fail here.
    for entry in text_index.entries:
        re.compile(entry.match)


def test_it_refuses_uppercase_patterns() -> None:
    with pytest.raises(ValueError, match="lowercased"):
        index("User unknown")


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("550 User Unknown.", "user unknown"),
        ("550 superuser unknown", None),
        ("550 user unknownish", None),
        ("mailbox is full", "mailbox is full"),
        ("mailbox  full", None),
    ],
)
def test_it_matches_whole_words_only(text: str, found: str | None) -> None:
    text_index = index(r"user unknown|mailbox (?:is )?full")

    assert first(text_index, text) == found


def test_it_applies_the_code_conditions_of_an_entry() -> None:
    entry = Entry("test.entry", Category.UNKNOWN, "Test", match="busy", smtp=(421,))
    text_index = TextIndex((entry,))
    words = words_of("busy")

    assert list(text_index.matches("busy", words, 421, None)) == [(entry, "busy")]
    assert list(text_index.matches("busy", words, 450, None)) == []


def test_it_gives_retry_after_only_to_entries_that_retry_by_themselves() -> None:
    entries = [
        *catalog.TEXT.entries,
        *catalog.ENHANCED.values(),
        *catalog.SUBJECTS.values(),
        *catalog.BASIC.values(),
        *catalog.HTTP.values(),
    ]

    for entry in entries:
        if entry.retry_after is not None:
            assert catalog.DEFAULTS[entry.category].retry == Retry.AUTO, entry.code


def test_it_has_defaults_for_every_category() -> None:
    assert set(catalog.DEFAULTS) == set(Category)
    for category, defaults in catalog.DEFAULTS.items():
        assert defaults.fixes or defaults.retry == Retry.AUTO, category
