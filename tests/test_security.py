"""Untrusted provider text is always escaped; mailbox secrets never leave the database."""

from __future__ import annotations

import logging
import sys

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.views.debug import technical_500_response

from sequences.demo import ACME, GLOBEX
from sequences.models import Mailbox, Membership, Sequence

XSS = "550 5.7.1 <script>alert(1)</script><img src=x onerror=alert(2)>"
SECRETS = [m.password for spec in (ACME, GLOBEX) for m in spec.mailboxes if m.password != "wrong"]


@pytest.fixture
def hostile(rep, make_sequence, make_failed_email):
    """A provider reply with markup, stored where every error page shows it."""
    sequence = make_sequence(rep, steps=1)
    email = make_failed_email(
        sequence,
        email="pat@example.test",
        raw=XSS,
        code="smtp.5.7.1",
        category="content_rejected",
    )
    Mailbox.objects.filter(pk=sequence.mailbox_id).update(last_error=XSS)
    return email


@pytest.fixture
def superuser_client(django_user_model, db):
    from django.test import Client

    staff = Client()
    staff.force_login(django_user_model.objects.create_superuser("root", password="pw"))
    return staff


def _assert_escaped(html: str) -> None:
    assert "<script>alert(1)" not in html
    assert "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


@pytest.mark.parametrize(
    ("who", "url"),
    [
        ("rep", lambda e: reverse("sequences:emails", args=[e.sequence_id])),
        ("rep", lambda e: reverse("sequences:email_timeline", args=[e.sequence_id, e.pk])),
        ("rep", lambda e: reverse("sequences:mailbox_list")),
        ("rep", lambda e: reverse("sequences:overview", args=[e.sequence_id])),
        ("rep", lambda e: reverse("sequences:mailbox_edit", args=[e.mailbox_id])),
        ("support", lambda e: reverse("sequences:organization_detail", args=["acme"])),
        (
            "superuser",
            lambda e: reverse("admin:sequences_sendattempt_change", args=[e.attempts.get().pk]),
        ),
        ("superuser", lambda e: reverse("admin:sequences_scheduledemail_change", args=[e.pk])),
        ("superuser", lambda e: reverse("admin:sequences_mailbox_change", args=[e.mailbox_id])),
    ],
)
def test_it_shows_provider_markup_as_text(client, request, hostile, who, url, superuser_client):
    if who == "superuser":
        client = superuser_client
    else:
        client.force_login(request.getfixturevalue(who))

    response = client.get(url(hostile))

    assert response.status_code == 200
    _assert_escaped(response.text)


def test_it_never_renders_a_mailbox_secret_on_the_demo_pages(client, superuser_client):
    call_command("seed_demo", size=300, stdout=open("/dev/null", "w"))  # noqa: SIM115
    pages = [reverse("sequences:list"), reverse("sequences:mailbox_list")]
    pages += [reverse("sequences:contact_list")]
    for sequence in Sequence.objects.all():
        for name in ("overview", "contacts", "emails"):
            pages.append(reverse(f"sequences:{name}", args=[sequence.pk]))
    pages += [reverse("sequences:organization_list")]
    pages += [reverse("sequences:organization_detail", args=[s.slug]) for s in (ACME, GLOBEX)]
    for mailbox in Mailbox.objects.all():
        pages += [
            reverse(f"sequences:{name}", args=[mailbox.pk])
            for name in ("mailbox_detail", "mailbox_edit")
        ]

    seen = []
    for membership in Membership.objects.select_related("user"):
        client.force_login(membership.user)
        seen += [client.get(page).text for page in pages]
    for mailbox in Mailbox.objects.all():
        seen.append(
            superuser_client.get(reverse("admin:sequences_mailbox_change", args=[mailbox.pk])).text
        )

    assert SECRETS
    for secret in SECRETS:
        assert not any(secret in html for html in seen), secret


@pytest.mark.django_db(transaction=True)
def test_it_never_logs_a_mailbox_secret_while_sending(
    rep, make_sequence, make_email, sandbox, caplog
):
    from tests.support import send_through

    sequence = make_sequence(rep, steps=1)
    mailbox = sequence.mailbox
    mailbox.password = "hunter2-very-secret"
    mailbox.save()
    send_through(mailbox.pk, sandbox)
    mailbox.refresh_from_db()
    make_email(
        sequence, email="pat@example.test", next_attempt_at=sequence.steps.get().sequence.created_at
    )
    caplog.set_level(logging.DEBUG)

    call_command("dispatch", "--once", stdout=open("/dev/null", "w"))  # noqa: SIM115
    mailbox.password = "wrong"
    mailbox.save()
    from sequences.services.mailboxes import mailbox_resync

    mailbox_resync(mailbox_id=mailbox.pk)

    assert sandbox.messages()
    assert "hunter2-very-secret" not in caplog.text
    assert "535" in mailbox.__class__.objects.get(pk=mailbox.pk).last_error


@pytest.mark.parametrize("headers", [{}, {"HX-Request": "true"}])
def test_signed_in_pages_are_never_stored_by_a_browser_or_a_proxy(client, rep, headers):
    client.force_login(rep)

    page = client.get(reverse("sequences:mailbox_list"), headers=headers)

    assert page.status_code == 200
    assert "no-store" in page.headers["Cache-Control"]
    assert "private" in page.headers["Cache-Control"]


def test_a_refusal_is_logged_once_without_a_traceback(client, rep, support, caplog):
    client.force_login(rep)
    caplog.set_level(logging.WARNING, logger="django.request")

    assert client.get(reverse("sequences:organization_list")).status_code == 403

    (record,) = [r for r in caplog.records if r.name == "django.request"]
    assert record.getMessage() == "Forbidden (Permission denied): /organizations/"
    assert record.exc_info is None
    assert "Traceback" not in caplog.text


def test_the_audit_log_is_append_only_even_for_a_superuser(superuser_client):
    added = superuser_client.get(reverse("admin:sequences_auditentry_add"))

    assert added.status_code == 403


URL_PASSWORD = "pw-in-a-url"


def _request_with_credentials(rf):
    """A request whose META holds URLs with a password, as runserver copies the process's
    environment into each request's (built apart: the page lists the failing frames)."""
    request = rf.get("/")
    request.META["DATABASE_URL"] = f"postgres://app:{URL_PASSWORD}@db:5432/status"
    request.META["CELERY_BROKER_URL"] = f"redis://:{URL_PASSWORD}@redis:6379/0"
    return request


def test_the_debug_page_hides_urls_with_credentials(rf):
    request = _request_with_credentials(rf)
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        page = technical_500_response(request, *sys.exc_info()).content.decode()

    assert "boom" in page
    assert "DATABASE_URL" in page
    assert URL_PASSWORD not in page


def test_a_refusal_is_a_page_with_the_reason_and_a_way_back(client, rep):
    client.force_login(rep)

    response = client.get(reverse("sequences:organization_list"))

    assert response.status_code == 403
    assert "Only support staff review organizations." in response.text
    assert f'href="{reverse("sequences:list")}">Back to your sequences' in response.text
    assert "<!doctype html>" in response.text
