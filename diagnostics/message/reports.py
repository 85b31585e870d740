"""Who a delivery report is about and what it says of each: RFC 3464's fields, or the text of
the servers that write none (qmail, Lotus Notes, old Gmail, Exchange's text…).

Each finding is a `Reported`: the recipient's address, action, status, remote MTA and the
diagnostic text, still undiagnosed.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from diagnostics.message.mime import Fields, Reading

ACTIONS = frozenset({"failed", "delayed", "delivered", "relayed", "expanded"})

_STATUS = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_TYPED = re.compile(r"^[\w-]+\s*;\s*")  # "rfc822; ", "smtp; ", "dns; ", "X-Postfix; "
_ADDRESS = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+")
# Where the copy of the original starts in the bounce texts seen (qmail, Exim, Gmail, Notes,
# Exchange, Sendmail…): nothing below it is the report's.
_ORIGINAL_MARKER = re.compile(
    r"^[ \t]*(?:-{2,}.{0,20}(?:below this line|copy of the message|original message|"
    r"returned message|header of the original|message headers? follows?|rfc822)|"
    r"original message headers:|-+ ?original message ?-+)",
    re.I | re.M,
)
_DELAY_WORDS = re.compile(
    r"delayed|not yet been delivered|will (?:continue|keep) (?:to )?try|still being retried|"
    r"will be retried|retry (?:again|later)|\(delay\)",
    re.I,
)
_BOUNCE_SUBJECT = re.compile(
    r"undeliver|undelivered|delivery (?:status notification|failure|failed|notification)|"
    r"mail delivery (?:failed|failure|problem|system)|returned mail|failure notice|"
    r"delivery has failed|could not be delivered|non[- ]?delivery|mail system error|"
    r"delayed mail|message .* delayed|warning: could not send|nondeliverable|"
    r"unzustellbar|non remis|no se puede entregar",
    re.I,
)
_DAEMON = re.compile(r"mailer-daemon|postmaster|mail delivery (?:system|subsystem)", re.I)


class Reported(NamedTuple):
    address: str
    action: str
    status: str | None
    remote_mta: str | None
    diagnostic: str


def from_delivery_status(reading: Reading) -> list[Reported]:
    """The per-recipient blocks of the RFC 3464 parts (the first block of each is the
    per-message one: no recipient in it)."""
    found = []
    for block in reading.delivery_status:
        fields = dict(block)
        address = _address(fields.get("final-recipient") or fields.get("original-recipient"))
        if address is None:
            continue
        action = fields.get("action", "").strip().lower().split(" ")[0]
        status = status_code(fields.get("status", ""))
        diagnostic = _TYPED.sub("", fields.get("diagnostic-code", "")).strip()
        if not diagnostic:
            diagnostic = _reason_in_text(reading, address) or fields.get("status", "").strip()
        found.append(
            Reported(
                address=address,
                action=action if action in ACTIONS else _inferred_action(status),
                status=status,
                remote_mta=_TYPED.sub("", fields.get("remote-mta", "")).strip() or None,
                diagnostic=diagnostic,
            )
        )
    return found


def looks_like_bounce(reading: Reading) -> bool:
    """A report without RFC 3464 fields: from a mailer daemon, or titled like one."""
    return bool(
        reading.header("x-failed-recipients")
        or _DAEMON.search(reading.header("from"))
        or _BOUNCE_SUBJECT.search(reading.header("subject"))
    )


def from_text(reading: Reading) -> list[Reported]:
    """The recipients a bounce's text names, each with the reason written beside it."""
    report = _report_text(reading)
    own = {
        address.lower()
        for name in ("from", "to", "sender", "reply-to")
        for address in _ADDRESS.findall(reading.header(name))
    }
    failed = [
        address.lower() for address in _ADDRESS.findall(reading.header("x-failed-recipients"))
    ]
    named = failed or [
        address
        for address in dict.fromkeys(found.lower() for found in _ADDRESS.findall(report))
        if address not in own and not _DAEMON.search(address)
    ]
    delayed = bool(_DELAY_WORDS.search(reading.header("subject"))) or (
        not failed and bool(_DELAY_WORDS.search(report[:2000]))
    )
    action = "delayed" if delayed else "failed"
    found = []
    for address in named:
        diagnostic = _reason_beside(report, address) or report.strip()[:500]
        status = status_code(diagnostic)
        found.append(Reported(address, action, status, None, diagnostic))
    return found


def status_code(text: str) -> str | None:
    found = _STATUS.search(text)
    return ".".join(found.groups()) if found else None


def _address(value: str | None) -> str | None:
    if not value:
        return None
    found = _ADDRESS.search(_TYPED.sub("", value))
    return found[0].lower() if found else None


def _inferred_action(status: str | None) -> str:
    if status is None or status[0] == "5":
        return "failed"
    return "delayed" if status[0] == "4" else "delivered"


def _report_text(reading: Reading) -> str:
    """The report's own text: its first text part, above the copy of the original."""
    text = reading.texts[0] if reading.texts else ""
    marker = _ORIGINAL_MARKER.search(text)
    return text[: marker.start()] if marker else text


def _reason_in_text(reading: Reading, address: str) -> str:
    """The reason the human-readable part gives for a recipient its fields give none for
    (Exim writes no Diagnostic-Code for a local failure or an expired retry)."""
    return _reason_beside(_report_text(reading), address)


def _reason_beside(text: str, address: str) -> str:
    """The lines written under the address, up to a blank line or the next address (with
    what its own line says beside it); else the next paragraph (Gmail); else the line above
    it (Lotus Notes)."""
    lines = text.splitlines()
    lowered = [line.lower() for line in lines]
    for index, line in enumerate(lowered):
        if address not in line:
            continue
        after = _paragraph(lines, lowered, index + 1, address)
        if not after and index + 1 < len(lines):
            start = index + 1
            while start < len(lines) and not lines[start].strip():
                start += 1
            after = _paragraph(lines, lowered, start, address)
        if after:
            rest = _ADDRESS.sub("", line.replace(address, "")).strip(" <>:\t")
            return f"{rest} {after}" if len(rest) > 3 else after
        if index and lines[index - 1].strip():
            return lines[index - 1].strip()
        return line.strip()
    return ""


def _paragraph(lines: list[str], lowered: list[str], start: int, address: str) -> str:
    kept = []
    for index in range(start, min(len(lines), start + 12)):
        line = lines[index].strip()
        if not line:
            break
        other = _ADDRESS.match(lowered[index].strip(" <"))
        if other and other[0] != address:
            break
        kept.append(line)
    return " ".join(kept)


def feedback_fields(fields: Fields) -> tuple[str, list[str]]:
    """The Feedback-Type and the recipients (Original-Rcpt-To) of an ARF report."""
    kind = ""
    recipients = []
    for name, value in fields:
        if name == "feedback-type" and not kind:
            kind = value.strip().lower()
        elif name == "original-rcpt-to":
            address = _address(value)
            if address:
                recipients.append(address)
    return kind, recipients


def addresses(text: str) -> list[str]:
    return _ADDRESS.findall(text)
