"""Each catalog entry's evidence: the real errors it quotes are diagnosed by that entry.

An entry whose examples another entry takes is shadowed (or the other one is too broad):
fix the catalog's order or patterns, not the example (diagnostics.catalog).
"""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from diagnostics import catalog
from diagnostics.catalog import Entry
from diagnostics.diagnosis import diagnose, explain


def _distinct(entries: Iterable[Entry]) -> list[Entry]:
    """Entries once each, in order: the code tables share entries with the text's."""
    seen: dict[int, Entry] = {}
    for entry in entries:
        seen.setdefault(id(entry), entry)
    return list(seen.values())


TEXT_ENTRIES = _distinct((*catalog.TEXT.entries, *catalog.HINTS.entries))
ENTRIES = _distinct(
    (
        *TEXT_ENTRIES,
        *catalog.ENHANCED.values(),
        *catalog.SUBJECTS.values(),
        *catalog.BASIC.values(),
        *catalog.HTTP.values(),
    )
)
EXAMPLES = [
    pytest.param(entry, example, id=f"{entry.code}-{number}")
    for entry in ENTRIES
    for number, example in enumerate(entry.examples, 1)
]


@pytest.mark.parametrize(("entry", "example"), EXAMPLES)
def test_it_diagnoses_each_example_by_its_own_entry(entry: Entry, example: str) -> None:
    winner = explain(example).candidates[0]

    assert diagnose(example).code == entry.code, (
        f"{entry.code}'s example is taken by {winner.entry.code} ({winner.rule}, on "
        f"{winner.evidence!r})"
    )


@pytest.mark.parametrize(("entry", "example"), [case for case in EXAMPLES if case.values[0].match])
def test_it_finds_each_text_example_by_the_entry_own_pattern(entry: Entry, example: str) -> None:
    # Not only through a code of the same meaning: the example must prove the pattern.
    candidates = explain(example).candidates
    matched = [found.entry for found in candidates if found.rule in ("text", "hint")]

    assert any(found is entry for found in matched), [found.code for found in matched]


@pytest.mark.parametrize("entry", TEXT_ENTRIES, ids=[entry.code for entry in TEXT_ENTRIES])
def test_it_gives_every_text_entry_its_evidence(entry: Entry) -> None:
    assert entry.examples, "quote at least one raw error the entry diagnoses"
    assert entry.source.strip(), "say where the examples come from"
    assert all(example.strip() for example in entry.examples)
    assert len(set(entry.examples)) == len(entry.examples)


def test_it_keeps_entry_codes_distinct() -> None:
    # Otherwise an example taken by an entry of the same code would pass unseen.
    codes = [entry.code for entry in ENTRIES if entry.code != "unknown"]

    assert len(codes) == len(set(codes))
