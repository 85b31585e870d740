"""Reading a whole message: its headers, its report parts, its texts and the Message-IDs of
the message it returns or quotes.

compat32, the email package's lenient policy: it parses any bytes, records what is wrong
as defects instead of raising, and reads `message/delivery-status` into one block of fields
per recipient. Every bound below keeps a hostile input (20 MB, a thousand nested parts,
broken encodings) to bounded time and memory: only the first READ_LIMIT bytes are parsed, at
most MAX_PARTS parts are looked at, none deeper than MAX_DEPTH, and each text is cut to
TEXT_LIMIT characters. A report's fields and its human-readable text come first in every
form seen, so the cut loses at most the tail of a returned original.
"""

from __future__ import annotations

import email
import html
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.errors import MessageError
from email.header import Header, decode_header
from email.message import Message
from email.parser import HeaderParser

READ_LIMIT = 1 << 20
MAX_PARTS = 200
MAX_DEPTH = 40
TEXT_LIMIT = 64 * 1024

# A report block: its fields in order, names lower-cased, values unfolded (a field such as
# Original-Rcpt-To may repeat).
Fields = list[tuple[str, str]]

_MESSAGE_ID = re.compile(r"<[^<>\s]+@[^<>\s]+>")
_FOLD = re.compile(r"\r?\n[ \t]+")
_FIELD = re.compile(r"([A-Za-z][\w-]*)[ \t]*:[ \t]*(.*)")
_QUOTED_MESSAGE_ID = re.compile(r"^[ \t>]*message-id:[ \t]*(<[^<>\s]+@[^<>\s]+>)", re.I | re.M)
_HTML_DROP = re.compile(r"<(style|script|head)\b.*?</\1\s*>", re.I | re.S)
_HTML_BREAK = re.compile(r"<(?:br|/p|/div|/tr|/li|/h\d|hr)\b[^>]*>", re.I)
_HTML_TAG = re.compile(r"<[^>]*>")


@dataclass
class Reading:
    """What a message holds, as the classifier needs it."""

    message: Message
    delivery_status: list[Fields] = field(default_factory=list)
    feedback: Fields = field(default_factory=list)
    # Message-IDs of the returned original: its headers (text/rfc822-headers) or all of it.
    returned_ids: list[str] = field(default_factory=list)
    # The message/rfc822 parts, read only if the message itself is no report (a forwarded one).
    attached: list[Message] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)

    def header(self, name: str) -> str:
        return header_text(self.message, name)

    def quoted_message_id(self) -> str | None:
        """A Message-ID quoted in the text (the copy of the original below a bounce's text)."""
        own = self.header("message-id")
        for text in self.texts:
            for found in _QUOTED_MESSAGE_ID.finditer(text):
                if found[1] not in own:
                    return found[1]
        return None


def read_message(raw: bytes) -> Reading:
    return read_parts(email.message_from_bytes(raw[:READ_LIMIT]))


def read_parts(message: Message, depth: int = 0) -> Reading:
    reading = Reading(message)
    for part in _walk(message, depth):
        content_type = part.get_content_type()
        if content_type in ("message/delivery-status", "message/global-delivery-status"):
            reading.delivery_status.extend(_blocks(part))
        elif content_type == "message/feedback-report":
            reading.feedback.extend(field for block in _blocks(part) for field in block)
        elif content_type in ("text/rfc822-headers", "text/global-headers"):
            reading.returned_ids.extend(_ids(HeaderParser().parsestr(_text(part))))
        elif content_type in ("message/rfc822", "message/global"):
            inner = part.get_payload()
            if isinstance(inner, list) and inner and isinstance(inner[0], Message):
                reading.returned_ids.extend(_ids(inner[0]))
                reading.attached.append(inner[0])
        elif content_type in ("text/plain", "text/html") and not _is_attachment(part):
            text = _text(part)
            reading.texts.append(_html_text(text) if content_type == "text/html" else text)
    return reading


def header_text(message: Message, name: str) -> str:
    """A header decoded (RFC 2047, or raw 8-bit bytes read as UTF-8) and unfolded; "" when
    missing."""
    value = message.get(name)
    if value is None:
        return ""
    try:
        chunks = decode_header(value if isinstance(value, Header) else str(value))
    except (MessageError, ValueError, LookupError, UnicodeError, AssertionError):
        chunks = [(str(value), None)]
    text = "".join(
        _decoded(chunk, charset) if isinstance(chunk, bytes) else chunk for chunk, charset in chunks
    )
    return _FOLD.sub(" ", text).strip()


def _decoded(data: bytes, charset: str | None) -> str:
    if charset in (None, "unknown-8bit"):
        charset = "utf-8"
    try:
        return data.decode(charset, "replace")
    except (LookupError, ValueError):  # an unknown or bogus charset name
        return data.decode("utf-8", "replace")


def message_ids(text: str) -> list[str]:
    return _MESSAGE_ID.findall(text)


def _walk(message: Message, depth: int) -> Iterator[Message]:
    """The parts in order, without descending into message/rfc822 (read_parts keeps those);
    iterative, since the nesting is the sender's to choose."""
    stack = [(message, depth)]
    seen = 0
    while stack and seen < MAX_PARTS:
        part, level = stack.pop()
        seen += 1
        yield part
        if part.get_content_maintype() == "multipart" and level < MAX_DEPTH:
            children = part.get_payload()
            if isinstance(children, list):
                stack.extend((child, level + 1) for child in reversed(children[:MAX_PARTS]))


def _blocks(part: Message) -> Iterator[Fields]:
    """The blocks of a report part: compat32 parses them into messages, unless it could
    not (a transfer encoding), when the decoded text is split into blocks here."""
    payload = part.get_payload()
    if isinstance(payload, list) and all(isinstance(block, Message) for block in payload):
        for block in payload:
            yield [
                (name.lower(), _FOLD.sub(" ", str(value)).strip()) for name, value in block.items()
            ]
        return
    for chunk in re.split(r"\r?\n[ \t]*\r?\n", _FOLD.sub(" ", _text(part))):
        fields = [
            (found[1].lower(), found[2].strip())
            for found in map(_FIELD.match, chunk.splitlines())
            if found
        ]
        if fields:
            yield fields


def _ids(headers: Message) -> list[str]:
    return message_ids(header_text(headers, "message-id"))[:1]


def _is_attachment(part: Message) -> bool:
    return str(part.get("content-disposition", "")).lower().startswith("attachment")


def _text(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        payload = str(part.get_payload() or "").encode("utf-8", "surrogateescape")
    payload = payload[: TEXT_LIMIT * 4]
    return _decoded(payload, part.get_content_charset())[:TEXT_LIMIT]


def _html_text(markup: str) -> str:
    markup = _HTML_BREAK.sub("\n", _HTML_DROP.sub("", markup))
    return html.unescape(_HTML_TAG.sub("", markup))
