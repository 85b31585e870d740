"""Automatic replies (RFC 3834, out of office) and the date the person says they are back.

An automatic reply says so in a header (Auto-Submitted other than "no", X-Autoreply,
X-Autorespond, Precedence: auto_reply) or, for the responders that add none (Exchange's
"Automatic reply:", Lotus Notes' "AUTO:"), in its subject, in any of the languages below.

The return date is the first date after a "back on" phrase ("de retour le", "ab dem",
"rientrerò il"…), else after an "until" phrase ("jusqu'au", "bis", "hasta"…), read by
dateparser in that language, relative to the reply's own Date (a date without a year is the
next one after it). A numeric date that reads both ways (05/01/2010) is the reading nearest
after the reply's date; one that is before it in both readings is no return date.
"""

from __future__ import annotations

import datetime as dt
import re
from email.utils import parsedate_to_datetime

from diagnostics.message.mime import Reading

_AUTO_SUBJECT = re.compile(
    r"^\s*(?:auto(?:matic)?[ -]?(?:reply|response|answer)|autoreply|auto:|out of (?:the )?office|"
    r"ooo\b|away from (?:the )?office|on vacation|vacation reply|"
    r"r[ée]ponse automatique|absence du bureau|absent du bureau|"
    r"automatische antwort|abwesenheitsnotiz|abwesenheit|"
    r"respuesta autom[aá]tica|fuera de la oficina|"
    r"risposta automatica|fuori ufficio|"
    r"resposta autom[aá]tica|fora do escrit[oó]rio|aus[eê]ncia|"
    r"automatisch antwoord|afwezig|niet aanwezig|"
    r"自動応答|自動返信|不在)"
    r"|\((?:automatic|auto) (?:response|reply)\)|is out of the office",
    re.I,
)
_AUTO_HEADERS = ("x-autoreply", "x-autorespond", "x-autorespond-suppress-not")

# (language, phrases saying when the person is back, phrases saying until when they are away)
_PHRASES = (
    (
        "en",
        r"back (?:in the office |at work |in office )?on|return(?:ing)? (?:to the office )?on|"
        r"returning|be back",
        r"until|till|through",
    ),
    (
        "fr",
        r"de retour (?:au bureau )?(?:le|à partir du)|retour le|à partir du",
        r"jusqu['\u2019]?au",
    ),
    (
        "de",
        r"ab dem|ab|wieder am|zurück am|zurück ab",
        r"bis (?:einschließlich|zum|einschl\.)?|bis",
    ),
    ("es", r"de vuelta el|regresar[ée] el|volver[ée] el|a partir del", r"hasta el|hasta"),
    (
        "it",
        r"rientrer[òo] (?:in ufficio )?il|di ritorno il|torner[òo] il|a partire dal",
        r"fino al|fino a",
    ),
    ("pt", r"regresso (?:em|a)|de volta (?:em|a)|voltarei (?:em|a)|retorno (?:em|a)", r"até|ate"),
    ("nl", r"vanaf|terug op|weer aanwezig op", r"tot en met|tot"),
)
_BACK, _UNTIL = (
    tuple(
        (language, re.compile(rf"(?<!\w)(?:{phrases[kind]})(?!\w)"))
        for language, *phrases in _PHRASES
    )
    for kind in (0, 1)
)
_MONTH_WORD = r"[^\W\d_]{3,}\.?"
_DATE = re.compile(
    r"\d{4}-\d{2}-\d{2}|\d{1,2}[./-]\d{1,2}(?:[./-]\d{2,4})?|"
    rf"\d{{1,2}}(?:st|nd|rd|th|er|\.)?\s+(?:de\s+)?{_MONTH_WORD}(?:\s+(?:de\s+)?\d{{4}})?|"
    rf"{_MONTH_WORD}\s+\d{{1,2}}(?:st|nd|rd|th)?(?:,?\s+\d{{4}})?",
)
_NUMERIC = re.compile(r"(\d{1,2})[./-](\d{1,2})(?:[./-](\d{2,4}))?$")
# Japanese writes the date before the phrase: 1月6日以降 (from the 6th on), 1月5日まで (until).
_JAPANESE = re.compile(r"(?:(\d{4})年)?(\d{1,2})月(\d{1,2})日\s*(以降|まで)")
_WINDOW = 60


def is_auto_reply(reading: Reading) -> bool:
    submitted = reading.header("auto-submitted").lower()
    if submitted and not submitted.startswith("no"):
        return True
    if reading.header("precedence").lower() == "auto_reply":
        return True
    if any(reading.header(name) for name in _AUTO_HEADERS):
        return True
    return bool(_AUTO_SUBJECT.search(reading.header("subject")))


def return_date(reading: Reading) -> str | None:
    """The ISO date the text gives for the person's return, or None."""
    sent = _sent(reading)
    text = " ".join([reading.header("subject"), *reading.texts[:2]])[:20_000]
    found = _japanese(text, sent)
    if found:
        return found
    lowered = text.lower()
    for patterns in (_BACK, _UNTIL):  # "back on" phrases first, then "until"
        for language, pattern in patterns:
            for phrase in pattern.finditer(lowered):
                date = _first_date(text[phrase.end() : phrase.end() + _WINDOW], language, sent)
                if date:
                    return date.isoformat()
    return None


def _sent(reading: Reading) -> dt.datetime | None:
    try:
        sent = parsedate_to_datetime(reading.header("date"))
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return sent.replace(tzinfo=None)


def _first_date(window: str, language: str, sent: dt.datetime | None) -> dt.date | None:
    for candidate in _DATE.finditer(window):
        text = candidate[0]
        numeric = _NUMERIC.match(text)
        date = _numeric(numeric, sent) if numeric else _spelled(text, language, sent)
        if date:
            return date
    return None


def _numeric(found: re.Match[str], sent: dt.datetime | None) -> dt.date | None:
    first, second, year = int(found[1]), int(found[2]), found[3]
    if year is None:
        if sent is None:
            return None
        years = (sent.year, sent.year + 1)
    else:
        years = (int(year) + (2000 if len(year) == 2 else 0),)
    readings = []
    for number in years:
        for day, month in ((first, second), (second, first)):
            try:
                readings.append(dt.date(number, month, day))
            except ValueError:
                continue
    if sent is not None:
        readings = [date for date in readings if date >= sent.date()]
    return min(readings, default=None)


def _spelled(text: str, language: str, sent: dt.datetime | None) -> dt.date | None:
    settings = {"PREFER_DATES_FROM": "future", "REQUIRE_PARTS": ["day", "month"]}
    if sent is not None:
        settings["RELATIVE_BASE"] = sent
    elif not re.search(r"\d{4}", text):
        return None  # a date without a year needs the reply's date (the result is no clock's)
    # Imported here: it takes a tenth of a second, which the command's single-line batch
    # mode (the same command, measured for throughput) has no use for.
    import dateparser

    parsed = dateparser.parse(text, languages=[language], settings=settings)
    return parsed.date() if parsed else None


def _japanese(text: str, sent: dt.datetime | None) -> str | None:
    until = None
    for year, month, day, phrase in _JAPANESE.findall(text):
        if not year and sent is None:
            continue
        number = int(year) if year else sent.year
        try:
            date = dt.date(number, int(month), int(day))
        except ValueError:
            continue
        if not year and date < sent.date():
            date = date.replace(year=number + 1)
        if phrase != "まで":
            return date.isoformat()
        until = until or date.isoformat()
    return until
