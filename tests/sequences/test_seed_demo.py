from __future__ import annotations

import json

import pytest
from django.core.management import call_command

from diagnostics.data import SEED_ERRORS_PATH
from sequences.models import Contact, Mailbox, Membership, ScheduledEmail, SendAttempt

SOURCE_ERRORS = SEED_ERRORS_PATH


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


def test_it_fails_an_email_with_each_source_error(seeded):
    expected = {json.loads(line)["raw"] for line in SOURCE_ERRORS.read_text().splitlines()}
    recorded = set(SendAttempt.objects.values_list("raw_error", flat=True))

    assert expected <= recorded
    assert expected <= set(ScheduledEmail.objects.values_list("last_error", flat=True))


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
