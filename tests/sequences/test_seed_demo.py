from __future__ import annotations

import json
import re
import smtplib

import pytest
from django.core.management import call_command

from diagnostics.data import SEED_ERRORS_PATH
from diagnostics.diagnosis import diagnose
from sequences.models import Contact, Mailbox, Membership, ScheduledEmail, SendAttempt
from sequences.services.smtp import raw_error

SOURCE_ERRORS = SEED_ERRORS_PATH
# An address in an error's text (without the brackets or quotes around it).
ADDRESS = re.compile(r"[^\s<>():,;\"']+@[^\s<>():,;\"']+")


@pytest.fixture
def seeded(db):
    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115


def _counts() -> dict[str, int]:
    return {
        model.__name__: model.objects.count()
        for model in (Contact, Mailbox, Membership, ScheduledEmail, SendAttempt)
    }


def test_it_shows_every_email_status(seeded):
    present = set(ScheduledEmail.objects.values_list("status", flat=True).distinct())

    assert present == set(ScheduledEmail.Status.values)


def _source_raws() -> list[str]:
    return [json.loads(line)["raw"] for line in SOURCE_ERRORS.read_text().splitlines()]


def _as_seeded(raw: str) -> re.Pattern[str]:
    """The source error as the demo puts it on an email: any address in it, the email's."""
    parts = ADDRESS.split(raw)
    return re.compile(r"(\S+@\S+)".join(re.escape(part) for part in parts))


def test_it_fails_an_email_with_each_source_error(seeded):
    recorded = list(SendAttempt.objects.values_list("raw_error", flat=True))
    on_emails = list(
        ScheduledEmail.objects.exclude(last_error="").values_list("last_error", flat=True)
    )

    for raw in _source_raws():
        pattern = _as_seeded(raw)
        assert any(pattern.fullmatch(text) for text in recorded), raw
        assert any(pattern.fullmatch(text) for text in on_emails), raw


def test_it_has_a_rep_an_admin_and_support_and_a_broken_mailbox(seeded):
    roles = set(Membership.objects.values_list("role", flat=True))

    assert roles == {"rep", "admin", "support"}
    assert Mailbox.objects.filter(state=Mailbox.State.CONNECTED).exists()
    assert Mailbox.objects.filter(state=Mailbox.State.INVALID_CREDENTIALS).exists()


def test_it_does_not_duplicate_when_run_twice(seeded):
    before = _counts()

    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115

    assert _counts() == before


def test_it_scales_with_size(db):
    call_command("seed_demo", size=4000, stdout=open("/dev/null", "w"))  # noqa: SIM115

    assert 3600 <= ScheduledEmail.objects.count() <= 4600


def test_it_prints_the_demo_logins(db, capsys):
    call_command("seed_demo")

    out = capsys.readouterr().out
    assert "rita / rita-demo-2026" in out
    assert "sam / sam-demo-2026" in out


# The stories the demo tells, checked over the whole seeded demo: what a user reads on the
# Emails tab, the Overview, a mailbox's page and support's account page must agree.


def test_a_refused_sign_in_reads_as_the_pipeline_records_it(seeded):
    refused = raw_error(
        smtplib.SMTPAuthenticationError(535, b"5.7.8 Authentication credentials invalid")
    )
    broken = Mailbox.objects.get(state=Mailbox.State.INVALID_CREDENTIALS)

    assert broken.last_error == refused == "535 5.7.8 Authentication credentials invalid"
    assert broken.last_error_code == diagnose(refused).code
    texts = [
        *Mailbox.objects.values_list("last_error", flat=True),
        *ScheduledEmail.objects.values_list("last_error", flat=True),
        *SendAttempt.objects.values_list("raw_error", flat=True),
    ]
    assert not [t for t in texts if t.startswith("(") and "b'" in t]
