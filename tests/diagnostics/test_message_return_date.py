"""The date an automatic reply gives for the person's return (diagnostics.message.autoreply)."""

from __future__ import annotations

import pytest

from diagnostics.message import diagnose_message
from diagnostics.vocabulary import MessageKind

SENT = "Thu, 03 Dec 2026 11:52:30 +0000"


def auto_reply(body: str, *, subject: str = "Out of Office", date: str | None = SENT) -> bytes:
    headers = [
        "From: lead@example.org",
        "To: rep@sender.test",
        f"Subject: {subject}",
        "Auto-Submitted: auto-replied",
        "Content-Type: text/plain; charset=utf-8",
    ]
    if date:
        headers.append(f"Date: {date}")
    return ("\n".join(headers) + "\n\n" + body).encode()


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("I will be back in the office on January 12, 2027.", "2027-01-12"),
        ("I am away until December 20th.", "2026-12-20"),
        # Year-less and already past this year: next year's.
        ("Back on June 1, thanks.", "2027-06-01"),
        ("Je serai de retour le 6 janvier 2027.", "2027-01-06"),
        # The "back" phrase beats the "until" one, wherever it stands.
        ("Absente jusqu'au 5 janvier 2027. De retour le 6 janvier 2027.", "2027-01-06"),
        ("Ab dem 21. Dezember 2026 bin ich wieder erreichbar.", "2026-12-21"),
        ("Ich bin bis einschließlich 18.12.2026 nicht im Büro.", "2026-12-18"),
        ("Estaré fuera de la oficina hasta el 7 de enero de 2027.", "2027-01-07"),
        ("Rientrerò in ufficio il 18 gennaio 2027.", "2027-01-18"),
        ("Estou de férias até 10 de janeiro de 2027.", "2027-01-10"),
        ("Vanaf 5 januari 2027 ben ik weer op kantoor.", "2027-01-05"),
        ("1月5日まで不在にしております。1月6日以降に返信いたします。", "2027-01-06"),
        # Both readings of 05/01 are after the reply: the nearest one (5 January).
        ("I am out of the office until 05/01/2027.", "2027-01-05"),
        # 03/12: the 12th of March would be long; the 3rd of December is the reply's day.
        ("Out until 03/12/2026.", "2026-12-03"),
        ("This mailbox is no longer monitored.", None),
        ("Back soon!", None),
    ],
)
def test_it_reads_the_return_date(body: str, expected: str | None) -> None:
    found = diagnose_message(auto_reply(body))

    assert found.kind == MessageKind.AUTO_REPLY
    assert found.return_date == expected


def test_it_reads_no_year_less_date_without_the_replys_date() -> None:
    # Relative to what? Not to the clock: the diagnosis is a function of the bytes.
    assert diagnose_message(auto_reply("Back on June 1.", date=None)).return_date is None
    assert diagnose_message(auto_reply("Back on June 1, 2027.", date=None)).return_date == (
        "2027-06-01"
    )


@pytest.mark.parametrize(
    "subject",
    [
        "Automatic reply: Quick question",
        "Réponse automatique : Quick question",
        "Automatische Antwort: Quick question",
        "Abwesenheitsnotiz: Quick question",
        "Fuera de la oficina: Quick question",
        "Respuesta automática: Quick question",
        "Risposta automatica: Quick question",
        "Resposta automática: Quick question",
        "Automatisch antwoord: Quick question",
        "自動応答: Quick question",
        "AUTO: Jane Doe is out of the office (returning 05/01/2027)",
    ],
)
def test_it_knows_an_automatic_reply_by_its_subject_alone(subject: str) -> None:
    raw = f"From: lead@example.org\nSubject: {subject}\nIn-Reply-To: <a@b.test>\n\nAway.\n"

    assert diagnose_message(raw.encode()).kind == MessageKind.AUTO_REPLY


@pytest.mark.parametrize(
    "header",
    [
        "Auto-Submitted: auto-replied",
        "X-Autoreply: yes",
        "X-Autorespond: yes",
        "Precedence: auto_reply",
    ],
)
def test_it_knows_an_automatic_reply_by_its_headers(header: str) -> None:
    raw = f"From: lead@example.org\nSubject: Re: Quick question\n{header}\n\nThanks!\n"

    assert diagnose_message(raw.encode()).kind == MessageKind.AUTO_REPLY


def test_it_takes_auto_submitted_no_for_a_person() -> None:
    raw = b"From: lead@example.org\nSubject: Re: Quick question\nAuto-Submitted: no\n\nYes!\n"

    assert diagnose_message(raw).kind == MessageKind.REPLY
