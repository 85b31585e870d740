"""`make run`'s embedded default really sends: SQLite, in a process of its own (the rest of
the suite runs on PostgreSQL, which forgives what SQLite does not, e.g. how a datetime
parameter compares with a stored one)."""

from __future__ import annotations

import subprocess
import sys

from tests.support import ROOT, subprocess_env

SEND_ON_SQLITE = """
import datetime as dt
import os

import django

django.setup()
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.utils import timezone
from sequences.models import (
    Contact, Enrollment, Mailbox, Membership, Organization, ScheduledEmail, Sequence, Step,
)
call_command("migrate", verbosity=0)
organization = Organization.objects.create(name="Acme", slug="acme")
owner = get_user_model().objects.create_user("rita")
Membership.objects.create(user=owner, organization=organization, role="rep")
mailbox = Mailbox(
    organization=organization, owner=owner, email="rita@acme.test", smtp_host="127.0.0.1",
    smtp_port=int(os.environ["SANDBOX_PORT"]), smtp_security="none",
    smtp_username="rita@acme.test", sending_days="1234567", window_start=dt.time(0),
    window_end=dt.time(23, 59, 59),
)
mailbox.password = "pw"
mailbox.save()
sequence = Sequence.objects.create(
    organization=organization, owner=owner, mailbox=mailbox, name="Outbound"
)
first = Step.objects.create(
    sequence=sequence, position=1, subject="Hi {{ first_name }}", body="Hello"
)
Step.objects.create(sequence=sequence, position=2, wait_days=3, subject="Re:", body="Again")
contact = Contact.objects.create(
    organization=organization, email="pat@example.test", first_name="Pat"
)
enrollment = Enrollment.objects.create(
    sequence=sequence, contact=contact, enrolled_at=timezone.now()
)
now = timezone.now()
email = ScheduledEmail.objects.create(
    enrollment=enrollment, step=first, sequence=sequence, contact=contact, mailbox=mailbox,
    scheduled_for=now, next_attempt_at=now,
)
follow_up = ScheduledEmail.objects.create(
    enrollment=enrollment, step=sequence.steps.get(position=2), sequence=sequence,
    contact=contact, mailbox=mailbox, status="waiting", scheduled_for=now,
)
call_command("dispatch", "--once", stdout=open(os.devnull, "w"))
email.refresh_from_db(); follow_up.refresh_from_db()
print(email.status, email.attempts.get().outcome, follow_up.status, email.claimed_at)
"""


def test_it_sends_on_the_embedded_default_as_make_run_does(tmp_path, start_sandbox):
    sandbox = start_sandbox()
    env = subprocess_env(DATA_DIR=str(tmp_path / "data"), SANDBOX_PORT=str(sandbox.port))
    env.pop("DATABASE_URL", None)  # SQLite, the default

    result = subprocess.run(
        [sys.executable, "-c", SEND_ON_SQLITE],
        cwd=ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": "config.settings"},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )

    assert result.returncode == 0, result.stderr
    # Sent, its attempt finished, its follow-up's turn given, the claim dropped.
    assert result.stdout.split() == ["sent", "sent", "scheduled", "None"]
    (message,) = sandbox.messages()
    assert message["Subject"] == "Hi Pat"
