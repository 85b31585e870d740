"""A mailbox's settings changed and reconnected in the product, tested for real first."""

from __future__ import annotations

import zoneinfo

import pytest
from django.urls import reverse
from django.utils import timezone

from diagnostics.diagnosis import diagnose
from sequences.models import AuditEntry, Mailbox, ScheduledEmail
from sequences.services.mailboxes import mailbox_hold
from tests.support import send_through

Status = ScheduledEmail.Status
REFUSED = "535 5.7.8 Authentication credentials invalid"


@pytest.fixture
def broken(rep, make_sequence, make_email, sandbox):
    """A mailbox whose sign-in was refused, holding an email, on the SMTP sandbox."""
    sequence = make_sequence(rep, steps=1)
    mailbox = sequence.mailbox
    mailbox.password = "wrong"  # what the sandbox refuses
    mailbox.save()
    send_through(mailbox.pk, sandbox)
    make_email(sequence, email="pat@example.test")
    mailbox_hold(mailbox_id=mailbox.pk, diagnosis=diagnose(REFUSED), now=timezone.now())
    return Mailbox.objects.get(pk=mailbox.pk)


def _form(mailbox: Mailbox, **changes: object) -> dict[str, object]:
    fields = {
        "display_name": mailbox.display_name,
        "smtp_host": mailbox.smtp_host,
        "smtp_port": mailbox.smtp_port,
        "smtp_security": mailbox.smtp_security,
        "smtp_username": mailbox.smtp_username,
        "daily_limit": 500,
        "per_minute_limit": 30,
        "time_zone": mailbox.time_zone,
        "sending_days": mailbox.sending_days,
        "window_start": mailbox.window_start.strftime("%H:%M"),
        "window_end": "23:59",
        "action": "save",
    }
    return {**fields, **changes}


def _url(mailbox: Mailbox) -> str:
    return reverse("sequences:mailbox_edit", args=[mailbox.pk])


def test_the_page_never_shows_the_password(client, rep, broken):
    client.force_login(rep)

    page = client.get(_url(broken)).text

    assert "wrong" not in page.replace("Enter the new password", "")
    assert 'type="password" name="password"' in page
    assert "Authentication credentials invalid" in page
    assert "the same one would only be refused again" in page


def test_a_refused_password_saves_nothing_and_says_why(client, rep, broken):
    secret = broken.smtp_secret
    client.force_login(rep)

    response = client.post(_url(broken), _form(broken, password="wrong", daily_limit=100))

    assert response.status_code == 200
    assert "Connection test failed" in response.text
    assert f"Connected to 127.0.0.1:{broken.smtp_port}." in response.text
    assert "The server greeted us (EHLO)." in response.text
    assert REFUSED in response.text
    assert "Nothing was saved." in response.text
    broken.refresh_from_db()
    assert (broken.smtp_secret, broken.daily_limit) == (secret, 100_000)  # as it was
    assert broken.state == Mailbox.State.INVALID_CREDENTIALS


def test_the_right_password_reconnects_and_puts_back_what_was_held(client, rep, broken):
    held = ScheduledEmail.objects.get(mailbox=broken)
    assert held.status == Status.BLOCKED
    client.force_login(rep)

    response = client.post(_url(broken), _form(broken, password="s3cret-new", daily_limit=100))

    assert response.status_code == 302
    broken.refresh_from_db()
    held.refresh_from_db()
    assert (broken.state, broken.password, broken.daily_limit) == ("connected", "s3cret-new", 100)
    assert held.status == Status.SCHEDULED
    entry = AuditEntry.objects.get(action=AuditEntry.Action.EDIT_MAILBOX)
    changed = ["daily_limit", "per_minute_limit", "smtp_secret", "window_end"]
    assert entry.detail == {"changed": changed, "rescheduled": 1}
    assert "s3cret-new" not in str(entry.detail)
    assert "1 held email rescheduled" in client.get(response.url).text


def test_test_connection_only_tests(client, rep, broken):
    client.force_login(rep)

    response = client.post(_url(broken), _form(broken, password="right", action="test"))

    assert "Connection test passed" in response.text
    assert "Signed in as" in response.text
    broken.refresh_from_db()
    assert (broken.state, broken.password) == ("invalid_credentials", "wrong")


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"window_start": "18:00", "window_end": "08:00"}, "must start before it ends"),
        ({"per_minute_limit": 5000}, "sends at most 1000 a minute"),
        ({"smtp_port": "smtp"}, "Enter a whole number"),
    ],
)
def test_it_refuses_settings_that_cannot_be_right(client, rep, broken, changes, error):
    client.force_login(rep)

    response = client.post(_url(broken), _form(broken, password="right", **changes))

    assert response.status_code == 200
    assert error in response.text
    broken.refresh_from_db()
    assert broken.state == "invalid_credentials"


def test_a_microsoft_mailbox_is_capped_at_microsofts_limits(client, rep, broken):
    Mailbox.objects.filter(pk=broken.pk).update(provider=Mailbox.Provider.MICROSOFT)
    broken.refresh_from_db()
    client.force_login(rep)

    response = client.post(_url(broken), _form(broken, password="right", per_minute_limit=60))

    assert "Microsoft 365 sends at most 30 a minute." in response.text


def test_a_refused_resync_leads_to_the_reconnect_step(client, rep, broken):
    from sequences.services.mailboxes import mailbox_resync

    client.force_login(rep)
    mailbox_resync(mailbox_id=broken.pk)

    page = client.get(reverse("sequences:mailbox_detail", args=[broken.pk])).text

    assert f'href="{_url(broken)}">Enter the new password and reconnect' in page


def _connect_form(sandbox, **changes: object) -> dict[str, object]:
    fields = {
        "email": "new@example.test",
        "provider": "smtp",
        "display_name": "New Sender",
        "smtp_host": "127.0.0.1",
        "smtp_port": sandbox.port,
        "smtp_security": "none",
        "smtp_username": "new@example.test",
        "password": "s3cret",
        "daily_limit": 500,
        "per_minute_limit": 30,
        "time_zone": "Europe/Paris",
        "sending_days": "12345",
        "window_start": "08:00",
        "window_end": "18:00",
        "action": "connect",
    }
    return {**fields, **changes}


CONNECT = reverse("sequences:mailbox_connect")


def test_a_rep_connects_a_mailbox_of_her_own_once_it_passes(client, rep, sandbox):
    client.force_login(rep)

    refused = client.post(CONNECT, _connect_form(sandbox, password="wrong"))
    assert "Connection test failed" in refused.text
    assert REFUSED in refused.text
    assert not Mailbox.objects.exists()

    response = client.post(CONNECT, _connect_form(sandbox))

    mailbox = Mailbox.objects.get()
    assert response.url == reverse("sequences:mailbox_detail", args=[mailbox.pk])
    assert (mailbox.owner, mailbox.state, mailbox.password) == (rep, "connected", "s3cret")
    assert mailbox.organization == rep.membership.organization
    assert AuditEntry.objects.get(action="connect_mailbox").detail == {"connected": True}


def test_a_refused_mailbox_may_be_kept_not_connected_with_the_reason(client, rep, sandbox):
    client.force_login(rep)

    client.post(CONNECT, _connect_form(sandbox, password="wrong", action="keep"))

    mailbox = Mailbox.objects.get()
    assert (mailbox.state, mailbox.last_error) == ("invalid_credentials", REFUSED)


def test_an_admin_connects_a_mailbox_for_a_member(client, admin_user, rep, outsider, sandbox):
    client.force_login(admin_user)

    client.post(CONNECT, _connect_form(sandbox, owner=rep.pk))
    client.post(CONNECT, _connect_form(sandbox, email="b@example.test", owner=outsider.pk))

    owners = dict(Mailbox.objects.values_list("email", "owner"))
    # Not for someone of another organization: the admin's own, then.
    assert owners == {"new@example.test": rep.pk, "b@example.test": admin_user.pk}


def test_a_rep_cannot_choose_an_owner(client, rep, teammate, sandbox):
    client.force_login(rep)

    client.post(CONNECT, _connect_form(sandbox, owner=teammate.pk))

    assert Mailbox.objects.get().owner == rep


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"email": "not an address"}, "Enter a valid email address."),
        ({"password": ""}, "The password to sign in as this username."),
        ({"provider": "gmail", "daily_limit": 5000}, "sends at most 2,000 a day"),
    ],
)
def test_it_refuses_a_mailbox_that_cannot_be_right(client, rep, sandbox, changes, error):
    client.force_login(rep)

    response = client.post(CONNECT, _connect_form(sandbox, **changes))

    assert error in response.text
    assert not Mailbox.objects.exists()


def test_the_provider_presets_its_server(client, rep):
    client.force_login(rep)

    page = client.get(CONNECT, {"provider": "gmail"}).text

    assert 'value="smtp.gmail.com"' in page
    assert "app password" in page


def test_a_microsoft_mailbox_signing_in_with_a_password_is_warned(client, rep, broken):
    client.force_login(rep)
    url = reverse("sequences:mailbox_detail", args=[broken.pk])
    assert "basic authentication" not in client.get(url).text

    Mailbox.objects.filter(pk=broken.pk).update(provider=Mailbox.Provider.MICROSOFT)

    assert "end of December 2026" in client.get(url).text


@pytest.fixture
def spare(admin_user, make_mailbox):
    """Another connected mailbox of the organization, sending on weekdays, 9 to 5, Paris."""
    mailbox = make_mailbox(admin_user, email="spare@example.test")
    Mailbox.objects.filter(pk=mailbox.pk).update(
        time_zone="Europe/Paris", window_start="09:00", window_end="17:00", sending_days="12345"
    )
    return Mailbox.objects.get(pk=mailbox.pk)


def _move(client, source, target):
    url = reverse("sequences:mailbox_move", args=[source.pk])
    return client.post(url, {"target": target.pk})


def test_an_admin_moves_a_broken_mailboxs_work_to_a_connected_one(
    client, admin_user, broken, spare, make_email
):
    sequence = broken.sequences.get()
    waiting = make_email(sequence, email="sam@example.test", status=Status.WAITING)
    held = ScheduledEmail.objects.get(mailbox=broken, status=Status.BLOCKED)
    client.force_login(admin_user)

    response = _move(client, broken, spare)

    held.refresh_from_db()
    waiting.refresh_from_db()
    sequence.refresh_from_db()
    assert sequence.mailbox == spare
    assert (held.mailbox, held.status) == (spare, Status.SCHEDULED)
    assert (waiting.mailbox, waiting.status) == (spare, Status.WAITING)
    local = timezone.localtime(held.next_attempt_at, zoneinfo.ZoneInfo(spare.time_zone))
    assert local.isoweekday() <= 5  # within its window
    assert 9 <= local.hour < 17
    entry = AuditEntry.objects.get(action="move_mailbox_emails")
    assert entry.detail == {"to": "spare@example.test", "emails": 2}
    assert "2 pending emails of" in client.get(response.url).text


def test_no_email_moves_to_a_mailbox_that_is_not_connected(client, admin_user, broken, spare):
    Mailbox.objects.filter(pk=spare.pk).update(state=Mailbox.State.SYNC_ERROR)
    client.force_login(admin_user)

    _move(client, broken, spare)

    assert ScheduledEmail.objects.get().mailbox == broken
    assert not AuditEntry.objects.filter(action="move_mailbox_emails").exists()


def test_only_an_admin_moves_a_mailboxs_emails(client, rep, broken, spare):
    client.force_login(rep)

    assert _move(client, broken, spare).status_code == 403
    assert ScheduledEmail.objects.get().mailbox == broken
