"""A catalog entry, and the index that finds the first entry whose text pattern matches.

Python's `re` tries every branch of an alternation at every position, so one regex per
entry (or one huge alternation) costs about a millisecond a line. Instead a line is split
into words once, and only the alternatives whose required words are all among them are
searched. The words an alternative requires are those of its literal beginning: each
top-level alternative must start with a whole word, and matches whole words.

Scripts written without spaces (Chinese, Japanese) have no words to split: an alternative
that starts with a non-ASCII character is keyed by its literal beginning, looked up as a
substring, and only in a line that is not all ASCII (so the usual line pays one
`str.isascii`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from diagnostics.vocabulary import Category, Fix, Side

# After its anchor an alternative must not be able to continue the word (`user(s)?` would
# need the token "users"), so only these may follow the leading word.
# A letter of another script ends the ASCII word too ("empfänger" splits into "empf", "nger").
_AFTER_ANCHOR = re.compile(r"$|[ :;,'\"/=<>@!&#%-]|[^\x00-\x7f]|\\[sbW.\-\[\]()'\":/]")
_ANCHOR = re.compile(r"[a-z0-9_]+")
# The literal beginning of an alternative in another script: up to the first ASCII
# character, which may be a regex construct.
_FOREIGN_ANCHOR = re.compile(r"[^\x00-\x7f]+")
# The literal beginning of an alternative: word characters and separators, up to the
# first regex construct.
_LITERAL = re.compile(r"[a-z0-9_ ,:;'\"/=<>@!&#%-]*")
_SEPARATORS = re.compile(r"[^a-z0-9_]+")
# An uppercase letter could never match the lowercased text, unless it is an escape (\S, \W).
_UPPERCASE = re.compile(r"(?<!\\)[A-Z]")
_WORD_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_")

# Bytes 0-255 to lowercase ASCII word characters, everything else to a space: the fastest
# way to split a line into the words the anchors are looked up in.
_WORD_TABLE = bytes(
    c if chr(c).isascii() and (chr(c).isalnum() or c == ord("_")) else ord(" ") for c in range(256)
).lower()


def words_of(lowered: str) -> frozenset[bytes]:
    """The ASCII words of a lowercased text, as the anchors are matched against them."""
    return frozenset(lowered.encode("ascii", "replace").translate(_WORD_TABLE).split())


@dataclass(frozen=True, slots=True)
class Entry:
    """One known failure: how to recognise it and what to tell the rep.

    `match` is a regex searched in the lowercased text (write it in lowercase); every
    top-level alternative starts with a whole word. `smtp` and `http`, when given, also
    require the reply code or HTTP status found in the text. Empty `fixes`, `explanation`
    or `next_steps` take the category's defaults (diagnostics.catalog.defaults); `retry`
    always follows the category, as the contract says.

    `examples` are real raw errors the entry diagnoses, verbatim, and `source` says where
    they come from (a seed, a provider's documentation page, or "written" when none had
    one). They are the entry's evidence, for the reader and for the tests
    (tests/diagnostics/test_catalog_examples.py), and never read when diagnosing.
    """

    code: str
    category: Category
    title: str
    match: str = ""
    smtp: tuple[int, ...] = ()
    http: tuple[int, ...] = ()
    fixes: tuple[Fix, ...] | None = None
    explanation: str = ""
    next_steps: tuple[str, ...] = ()
    retry_after: int | None = None
    side: Side | None = None
    # Out of eq and hash: the diagnosis caches per entry (diagnosis._verdict), and hashing
    # the examples on every line would put them in the hot path.
    examples: tuple[str, ...] = field(default=(), compare=False)
    source: str = field(default="", compare=False)

    def accepts(self, smtp_code: int | None, http_status: int | None) -> bool:
        return (not self.smtp or smtp_code in self.smtp) and (
            not self.http or http_status in self.http
        )


def _alternatives(pattern: str) -> list[str]:
    """The top-level alternatives of a regex (split on `|` outside groups and classes)."""
    parts, depth, start, index, in_class = [], 0, 0, 0, False
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            index += 1
        elif in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "|" and depth == 0:
            parts.append(pattern[start:index])
            start = index + 1
        index += 1
    parts.append(pattern[start:])
    return parts


def _required_words(alternative: str, code: str) -> frozenset[bytes]:
    """The whole words any match of `alternative` contains, its leading word included.

    A word counts when a separator follows it in the literal beginning, or when the
    alternative is literal to its end (it is then compiled to end at a word's end).
    """
    foreign = _FOREIGN_ANCHOR.match(alternative)
    if foreign is not None:
        return frozenset((foreign.group().encode(),))
    anchor = _ANCHOR.match(alternative)
    if anchor is None or not _AFTER_ANCHOR.match(alternative, anchor.end()):
        raise ValueError(f"{code}: {alternative!r} must start with a whole lowercase word")
    literal = _LITERAL.match(alternative).group()
    if alternative[len(literal) : len(literal) + 1] in ("?", "*", "+", "{"):
        literal = literal[:-1]  # a quantified last character is not literal
    pieces = _SEPARATORS.split(literal)
    if literal != alternative:
        pieces.pop()  # the last piece may go on past the literal beginning
    return frozenset(piece.encode() for piece in (anchor.group(), *pieces) if piece)


# position in the index, its other required words, pattern source, entry, has code conditions
_Search = tuple[int, frozenset[bytes], str, Entry, bool]


class TextIndex:
    """Entries in precedence order, searchable by their text patterns."""

    def __init__(self, entries: tuple[Entry, ...]) -> None:
        self.entries = entries
        grouped: dict[tuple[bytes, int], list[tuple[frozenset[bytes], str]]] = {}
        for position, entry in enumerate(entries):
            if _UPPERCASE.search(entry.match):
                raise ValueError(f"{entry.code}: patterns are matched against lowercased text")
            for alternative in _alternatives(entry.match):
                required = _required_words(alternative, entry.code)
                if _LITERAL.fullmatch(alternative):
                    alternative += "(?![a-z0-9_])"
                # Indexed by its longest word, the likeliest to be rare.
                key = max(required, key=len)
                grouped.setdefault((key, position), []).append((required, alternative))
        searches: list[_Search] = []
        masks: dict[bytes, int] = {}
        # In precedence order: grouped holds the positions in increasing order.
        for (key, position), found in grouped.items():
            # One search per entry and key word: sre factors a shared leading word out of
            # the alternation and keeps its fast literal scan.
            others = frozenset.intersection(*(words for words, _ in found)) - {key}
            pattern = "|".join(alternative for _, alternative in found)
            entry = entries[position]
            conditional = bool(entry.smtp or entry.http)
            # Each search is a bit of its key word's mask, bit order being search order.
            masks[key] = masks.get(key, 0) | 1 << len(searches)
            searches.append((position, others, pattern, entry, conditional))
        self._searches = tuple(searches)
        # Compiled when first searched: most lines call for a few searches, and compiling
        # them all would be most of the batch command's start-up.
        self._compiled: list[re.Pattern[str] | None] = [None] * len(searches)
        self._masks = masks
        self.keys = frozenset(masks)
        # (text, key) of the keys in other scripts, found as substrings (module docstring).
        self._foreign = tuple((key.decode(), key) for key in masks if not key.isascii())

    def matches(
        self,
        lowered: str,
        words: frozenset[bytes],
        smtp_code: int | None,
        http_status: int | None,
    ) -> Iterator[tuple[Entry, str]]:
        """Each matching entry once, in precedence order, with the text that matched."""
        # The searches the line's words call for, as one int: cheaper than gathering and
        # sorting them, when the first match is usually among the first few.
        if self._foreign and not lowered.isascii():
            found = [key for text, key in self._foreign if text in lowered]
            if found:
                words = words.union(found)
        pending = 0
        for word in self.keys & words:
            pending |= self._masks[word]
        searches, compiled = self._searches, self._compiled
        seen = -1
        while pending:
            lowest = pending & -pending
            pending ^= lowest
            index = lowest.bit_length() - 1
            position, others, source, entry, conditional = searches[index]
            if position == seen or (others and not others <= words):
                continue
            if conditional and not entry.accepts(smtp_code, http_status):
                continue
            pattern = compiled[index]
            if pattern is None:
                pattern = compiled[index] = re.compile(source, re.ASCII)
            evidence = _search_word(pattern, lowered)
            if evidence is not None:
                seen = position
                yield entry, evidence


def _search_word(pattern: re.Pattern[str], text: str) -> str | None:
    """The first match that starts a word: the anchor was found as a word, not inside one.

    Checked here rather than with a leading `\\b`, which would cost sre its fast literal
    search.
    """
    found = pattern.search(text)
    while found is not None:
        start = found.start()
        if start == 0 or text[start - 1] not in _WORD_CHARS:
            return found.group()
        found = pattern.search(text, start + 1)
    return None
