"""OAuth 2.0 mailboxes against the OAuth sandbox and an SMTP sandbox that takes its tokens:
consent with PKCE and state, XOAUTH2 sign-in, refresh before expiry, a revoked grant."""

from __future__ import annotations

import datetime as dt
import logging
from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import reverse
from django.utils import timezone

from sequences.models import AuditEntry, Mailbox, ScheduledEmail
from sequences.services.mailboxes import mailbox_connection_test
from sequences.services.oauth import mailbox_access_token
from sequences.services.sending import emails_claim_due, emails_send_batch
from tests.support import consent, send_through

Status = ScheduledEmail.Status
# The sandbox accepts redirect URIs on loopback only, as a registered app's would be.
LOOPBACK = {"HTTP_HOST": "localhost"}


def _start(client, provider: str, email: str, **data: object):
    url = reverse("sequences:mailbox_oauth_connect", args=[provider])
    return client.post(url, {"email": email, **data}, **LOOPBACK)


def _callback(client, location: str):
    parts = urlsplit(location)
    return client.get(f"{parts.path}?{parts.query}", **LOOPBACK)


def _connect(client, provider: str, email: str):
    started = _start(client, provider, email)
    assert started.status_code == 302
    return _callback(client, consent(started.url, account=email))


@pytest.fixture
def google_mailbox(client, rep, oauth_mail):
    client.force_login(rep)
    _connect(client, "gmail", "rita@acme.test")
    return Mailbox.objects.get(email="rita@acme.test")


def test_it_sends_to_the_consent_page_with_pkce_and_a_state(client, rep, oauth_sandbox):
    client.force_login(rep)

    response = _start(client, "gmail", "rita@acme.test")

    query = parse_qs(urlsplit(response.url).query)
    assert response.url.startswith(oauth_sandbox.url + "/google/o/oauth2/v2/auth?")
    assert query["code_challenge_method"] == ["S256"]
    assert len(query["code_challenge"][0]) == 43  # base64url of a SHA-256
    assert query["scope"] == ["https://mail.google.com/"]
    assert query["login_hint"] == ["rita@acme.test"]
    assert query["access_type"] == ["offline"]
    assert query["state"][0] in client.session["oauth_flows"]


def test_it_connects_a_google_mailbox_signed_in_with_xoauth2(client, rep, oauth_mail, caplog):
    client.force_login(rep)
    caplog.set_level(logging.DEBUG, logger="sequences")

    response = _connect(client, "gmail", "rita@acme.test")

    mailbox = Mailbox.objects.get(email="rita@acme.test")
    assert response.url == reverse("sequences:mailbox_detail", args=[mailbox.pk])
    assert (mailbox.state, mailbox.owner, mailbox.provider) == ("connected", rep, "gmail")
    assert mailbox.uses_oauth
    assert mailbox.smtp_secret == ""
    assert oauth_mail.logins == 1  # the connection test signed in with the token
    tokens = mailbox.oauth_tokens
    assert tokens["access_token"].startswith("ya29.")
    assert tokens["refresh_token"]
    # Encrypted at rest: neither token is in the stored column.
    assert tokens["access_token"] not in mailbox.oauth_secret
    assert tokens["refresh_token"] not in mailbox.oauth_secret
    assert mailbox.oauth_expires_at > timezone.now() + dt.timedelta(minutes=50)
    entry = AuditEntry.objects.get(action=AuditEntry.Action.CONNECT_MAILBOX)
    assert entry.detail["connected"] is True
    page = client.get(response.url)
    assert b"signs in with Google (OAuth 2.0)" in page.content
    for secret in tokens.values():
        assert secret.encode() not in page.content
        assert secret not in caplog.text


def test_an_oauth_mailboxs_settings_ask_for_no_password(client, google_mailbox):
    page = client.get(reverse("sequences:mailbox_edit", args=[google_mailbox.pk]))

    assert b'type="password"' not in page.content
    assert b"Sign in with Google again" in page.content
    assert google_mailbox.oauth_tokens["refresh_token"].encode() not in page.content


def test_it_connects_a_microsoft_mailbox_for_a_member(client, admin_user, rep, oauth_mail):
    client.force_login(admin_user)

    started = _start(client, "microsoft", "rita@acme.test", owner=rep.pk)
    query = parse_qs(urlsplit(started.url).query)
    _callback(client, consent(started.url, account="rita@acme.test"))

    assert set(query["scope"][0].split()) == {
        "https://outlook.office.com/SMTP.Send",
        "https://outlook.office.com/IMAP.AccessAsUser.All",
        "offline_access",
    }
    mailbox = Mailbox.objects.get(email="rita@acme.test")
    assert (mailbox.state, mailbox.owner, mailbox.provider) == ("connected", rep, "microsoft")


def test_it_refuses_a_callback_whose_state_does_not_match(client, rep, oauth_mail):
    client.force_login(rep)
    started = _start(client, "gmail", "rita@acme.test")
    location = consent(started.url, account="rita@acme.test")
    forged = location.replace("state=", "state=forged")

    response = _callback(client, forged)

    assert response.status_code == 400
    assert b"state does not match" in response.content
    assert not Mailbox.objects.filter(email="rita@acme.test").exists()


def test_it_refuses_a_flow_started_by_another_session(client, rep, teammate, oauth_mail):
    client.force_login(rep)
    started = _start(client, "gmail", "rita@acme.test")
    location = consent(started.url, account="rita@acme.test")
    client.logout()
    client.force_login(teammate)

    response = _callback(client, location)

    assert response.status_code == 400
    assert not Mailbox.objects.filter(email="rita@acme.test").exists()


def test_it_saves_nothing_when_the_consent_is_denied(client, rep, oauth_mail):
    client.force_login(rep)
    started = _start(client, "gmail", "rita@acme.test")

    response = _callback(client, consent(started.url, account="rita@acme.test", allow=False))

    assert response.status_code == 302
    assert "provider=gmail" in response.url
    assert not Mailbox.objects.exists()


def test_it_keeps_a_mailbox_whose_token_signs_in_as_someone_else_not_connected(
    client, rep, oauth_mail
):
    client.force_login(rep)
    started = _start(client, "gmail", "rita@acme.test")

    _callback(client, consent(started.url, account="someone.else@acme.test"))

    mailbox = Mailbox.objects.get(email="rita@acme.test")
    assert mailbox.state == Mailbox.State.INVALID_CREDENTIALS
    assert mailbox.last_error.startswith("535 5.7.8 Username and Password not accepted")


def test_it_refreshes_the_access_token_before_it_expires(google_mailbox, oauth_sandbox, settings):
    old = google_mailbox.oauth_tokens
    soon = timezone.now() + dt.timedelta(seconds=settings.OAUTH_REFRESH_MARGIN - 10)
    Mailbox.objects.filter(pk=google_mailbox.pk).update(oauth_expires_at=soon)
    google_mailbox.refresh_from_db()

    token = mailbox_access_token(google_mailbox)

    stored = Mailbox.objects.get(pk=google_mailbox.pk)
    assert token != old["access_token"]
    assert stored.oauth_tokens["access_token"] == token
    assert stored.oauth_tokens["refresh_token"] == old["refresh_token"]
    assert stored.oauth_expires_at > soon
    assert oauth_sandbox.refreshes() == 1
    assert mailbox_access_token(stored) == token  # valid long enough: no refresh
    assert oauth_sandbox.refreshes() == 1


def test_it_sends_an_email_through_the_sandbox_with_xoauth2(
    google_mailbox, oauth_mail, oauth_sandbox, make_sequence, make_email, rep
):
    sequence = make_sequence(rep)
    sequence.mailbox = google_mailbox
    sequence.save()
    send_through(google_mailbox.pk, oauth_mail)
    # Expiring within the margin: the send refreshes it first.
    Mailbox.objects.filter(pk=google_mailbox.pk).update(oauth_expires_at=timezone.now())
    now = timezone.now()
    email = make_email(sequence, email="pat@example.test", scheduled_for=now, next_attempt_at=now)

    _send_due(google_mailbox.pk)

    email.refresh_from_db()
    assert email.status == Status.SENT
    assert oauth_sandbox.refreshes() == 1
    (message,) = oauth_mail.messages()
    assert message["X-Sandbox-Login"] == "rita@acme.test"
    assert message["X-Sandbox-Rcpt-To"] == "pat@example.test"


def _send_due(mailbox_id: int) -> None:
    (claim,) = emails_claim_due()
    assert claim.mailbox_id == mailbox_id
    emails_send_batch(
        mailbox_id=claim.mailbox_id, email_ids=claim.email_ids, claimed_at=claim.claimed_at
    )


@pytest.fixture
def held_by_revocation(google_mailbox, oauth_mail, oauth_sandbox, make_sequence, make_email, rep):
    """The mailbox's grant revoked, then a send: the refresh is refused."""
    sequence = make_sequence(rep)
    sequence.mailbox = google_mailbox
    sequence.save()
    send_through(google_mailbox.pk, oauth_mail)
    now = timezone.now()
    emails = [
        make_email(sequence, email=f"pat{n}@example.test", scheduled_for=now, next_attempt_at=now)
        for n in range(2)
    ]
    oauth_sandbox.revoke_grant("rita@acme.test")
    Mailbox.objects.filter(pk=google_mailbox.pk).update(oauth_expires_at=now)
    _send_due(google_mailbox.pk)
    return emails


def test_a_revoked_grant_holds_the_mailbox_with_its_diagnosis(held_by_revocation, google_mailbox):
    mailbox = Mailbox.objects.get(pk=google_mailbox.pk)
    assert mailbox.state == Mailbox.State.INVALID_CREDENTIALS
    assert mailbox.last_error_code == "oauth.google_grant_revoked"
    assert mailbox.last_error == "invalid_grant: Token has been expired or revoked."
    statuses = ScheduledEmail.objects.filter(mailbox=mailbox).values_list("status", flat=True)
    assert set(statuses) == {Status.BLOCKED}


def test_signing_in_again_reschedules_what_the_revocation_held(
    client, held_by_revocation, google_mailbox, oauth_mail
):
    page = client.get(reverse("sequences:mailbox_detail", args=[google_mailbox.pk]))
    assert b"Sign in with Google again" in page.content

    started = client.post(
        reverse("sequences:mailbox_oauth_reconnect", args=[google_mailbox.pk]), **LOOPBACK
    )
    response = _callback(client, consent(started.url, account="rita@acme.test"))

    assert response.url == reverse("sequences:mailbox_detail", args=[google_mailbox.pk])
    mailbox = Mailbox.objects.get(pk=google_mailbox.pk)
    assert (mailbox.state, mailbox.last_error_code) == ("connected", "")
    assert mailbox.oauth_tokens != google_mailbox.oauth_tokens
    statuses = ScheduledEmail.objects.filter(mailbox=mailbox).values_list("status", flat=True)
    assert set(statuses) == {Status.SCHEDULED}
    entry = AuditEntry.objects.get(action=AuditEntry.Action.EDIT_MAILBOX)
    assert entry.detail["rescheduled"] == 2
    assert "oauth_secret" in entry.detail["changed"]


@pytest.mark.parametrize(
    ("provider", "break_grant", "code"),
    [
        ("gmail", "expire_grant", "oauth.google_grant_revoked"),
        ("microsoft", "expire_grant", "oauth.microsoft_grant_expired"),
        ("microsoft", "revoke_grant", "oauth.microsoft_grant_revoked"),
    ],
)
def test_it_diagnoses_each_providers_refused_refresh(
    client, rep, oauth_mail, oauth_sandbox, provider, break_grant, code
):
    client.force_login(rep)
    _connect(client, provider, "rita@acme.test")
    mailbox = Mailbox.objects.get(email="rita@acme.test")
    getattr(oauth_sandbox, break_grant)("rita@acme.test")
    mailbox.oauth_expires_at = timezone.now()

    test = mailbox_connection_test(mailbox)

    assert test.diagnosis.code == code
    assert test.diagnosis.category == "mailbox_connection"
    assert test.passed == ()  # refused before connecting


@pytest.mark.parametrize(
    ("provider", "raw"),
    [
        (
            "gmail",
            "535 5.7.8 Username and Password not accepted. For more information, go to\n"
            "5.7.8  https://support.google.com/mail/?p=BadCredentials",
        ),
        ("microsoft", "535 5.7.3 Authentication unsuccessful"),
    ],
)
def test_it_classifies_each_providers_xoauth2_refusal(
    client, rep, oauth_mail, oauth_sandbox, provider, raw
):
    client.force_login(rep)
    _connect(client, provider, "rita@acme.test")
    mailbox = Mailbox.objects.get(email="rita@acme.test")
    # Revoked while its access token still looks valid here: the server refuses it.
    oauth_sandbox.revoke_grant("rita@acme.test")

    test = mailbox_connection_test(mailbox)

    assert test.diagnosis.raw == raw
    assert (test.diagnosis.code, test.diagnosis.category) == ("smtp.5.7.8", "mailbox_connection")
    assert test.passed[-1] == "The server greeted us (EHLO)."


def test_a_microsoft_password_mailbox_is_offered_the_switch(client, rep, make_mailbox, oauth_mail):
    mailbox = make_mailbox(rep, email="rita@acme.test")
    send_through(mailbox.pk, oauth_mail, provider="microsoft")
    client.force_login(rep)

    page = client.get(reverse("sequences:mailbox_detail", args=[mailbox.pk]))
    assert b"Switch to Sign in with Microsoft" in page.content
    started = client.post(
        reverse("sequences:mailbox_oauth_reconnect", args=[mailbox.pk]), **LOOPBACK
    )
    _callback(client, consent(started.url, account="rita@acme.test"))

    mailbox.refresh_from_db()
    assert mailbox.uses_oauth
    assert mailbox.smtp_secret == ""
    assert mailbox.state == "connected"
    page = client.get(reverse("sequences:mailbox_detail", args=[mailbox.pk]))
    assert b"Switch to Sign in with Microsoft" not in page.content
