from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from sequences.models import Mailbox, ScheduledEmail
from sequences.services.mailboxes import (
    UNREACHABLE_CODE,
    mailbox_resync,
    mailbox_resync_request,
    mailboxes_recheck,
)

pytestmark = pytest.mark.django_db(transaction=True)
Status = ScheduledEmail.Status


@pytest.fixture
def broken_mailbox(rep, make_sequence, make_email, sandbox):
    sequence = make_sequence(rep)
    mailbox = sequence.mailbox
    mailbox.smtp_port = sandbox.port
    mailbox.smtp_security = Mailbox.Security.NONE
    mailbox.sending_days = "1234567"
    mailbox.window_start, mailbox.window_end = dt.time(0), dt.time(23, 59, 59)
    mailbox.state = Mailbox.State.INVALID_CREDENTIALS
    mailbox.last_error = "535 5.7.8 Authentication credentials invalid"
    mailbox.save()
    for n in range(3):
        make_email(
            sequence,
            email=f"c{n}@example.test",
            status=Status.BLOCKED,
            next_attempt_at=None,
            error_code="smtp.5.7.8",
            error_category="mailbox_connection",
            last_error=mailbox.last_error,
        )
    make_email(
        sequence,
        email="spam@example.test",
        status=Status.BLOCKED,
        next_attempt_at=None,
        error_code="smtp.5.1.6",
        error_category="content_rejected",
    )
    return mailbox


def test_it_reconnects_and_reschedules_what_the_mailbox_held(broken_mailbox):
    before = timezone.now()

    result = mailbox_resync(mailbox_id=broken_mailbox.pk)

    assert (result.connected, result.rescheduled) == (True, 3)
    broken_mailbox.refresh_from_db()
    assert (broken_mailbox.state, broken_mailbox.last_error) == (Mailbox.State.CONNECTED, "")
    assert broken_mailbox.last_checked_at >= before
    rescheduled = ScheduledEmail.objects.filter(status=Status.SCHEDULED)
    assert rescheduled.count() == 3
    assert all(e.next_attempt_at >= e.scheduled_for for e in rescheduled)
    # An email blocked for another reason waits for its own fix.
    assert ScheduledEmail.objects.get(error_category="content_rejected").status == Status.BLOCKED


def test_it_keeps_the_mailbox_broken_when_the_server_still_refuses(broken_mailbox):
    broken_mailbox.password = "wrong"
    broken_mailbox.save()

    result = mailbox_resync(mailbox_id=broken_mailbox.pk)

    assert (result.connected, result.rescheduled) == (False, 0)
    assert result.diagnosis.category == "mailbox_connection"
    broken_mailbox.refresh_from_db()
    assert broken_mailbox.state == Mailbox.State.INVALID_CREDENTIALS
    assert broken_mailbox.last_error == "535 5.7.8 Authentication credentials invalid"
    assert ScheduledEmail.objects.filter(status=Status.BLOCKED).count() == 4


def test_it_records_an_unreachable_server_as_a_sync_error(broken_mailbox, sandbox):
    sandbox.stop()

    result = mailbox_resync(mailbox_id=broken_mailbox.pk)

    assert not result.connected
    broken_mailbox.refresh_from_db()
    assert "Connection refused" in broken_mailbox.last_error


def test_it_shows_what_the_resync_put_back_not_what_changed_meanwhile(
    client, rep, broken_mailbox, make_email
):
    request = mailbox_resync_request(actor=rep, mailbox=broken_mailbox)
    # Scheduled by someone else while the worker reconnects: not the resync's doing.
    make_email(broken_mailbox.sequences.get(), email="new@example.test")

    mailbox_resync(mailbox_id=broken_mailbox.pk, request_id=request.pk)
    client.force_login(rep)
    url = reverse("sequences:mailbox_resync_status", args=[broken_mailbox.pk, request.pk])
    outcome = client.get(url, headers={"HX-Request": "true"}).text

    assert "Connected — 3 emails rescheduled" in outcome
    request.refresh_from_db()
    assert request.detail["outcome"]["rescheduled"] == 3


def test_it_shows_progress_until_a_worker_has_tried(client, rep, broken_mailbox):
    request = mailbox_resync_request(actor=rep, mailbox=broken_mailbox)
    client.force_login(rep)

    url = reverse("sequences:mailbox_resync_status", args=[broken_mailbox.pk, request.pk])
    progress = client.get(url, headers={"HX-Request": "true"}).text

    assert f"Checking {broken_mailbox.email}" in progress
    assert "Connected" not in progress


def test_it_does_not_show_another_mailboxs_resync(client, rep, broken_mailbox, make_mailbox):
    other = make_mailbox(rep, email="other@example.test")
    request = mailbox_resync_request(actor=rep, mailbox=other)
    client.force_login(rep)

    url = reverse("sequences:mailbox_resync_status", args=[broken_mailbox.pk, request.pk])

    assert client.get(url).status_code == 404


def test_it_keeps_rechecking_a_mailbox_whose_server_is_still_down(broken_mailbox, sandbox):
    # Held as unreachable after three refused connections; the server is still down at the
    # periodic re-check: it stays held as unreachable, and so is tried again at the next.
    Mailbox.objects.filter(pk=broken_mailbox.pk).update(
        state=Mailbox.State.SYNC_ERROR,
        last_error_code=UNREACHABLE_CODE,
        connection_failures=3,
        last_checked_at=timezone.now() - dt.timedelta(hours=1),
    )
    sandbox.stop()
    later = timezone.now() + dt.timedelta(hours=1)

    (first,) = mailboxes_recheck()
    (second,) = mailboxes_recheck(now=later)

    assert not first.connected
    assert not second.connected
    broken_mailbox.refresh_from_db()
    assert (broken_mailbox.state, broken_mailbox.last_error_code) == (
        Mailbox.State.SYNC_ERROR,
        UNREACHABLE_CODE,
    )
    assert "Connection refused" in broken_mailbox.last_error
    assert broken_mailbox.connection_failures == 5
