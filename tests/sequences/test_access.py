"""Sign-in limits, and the audit of what support staff review."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.urls import reverse

from sequences.models import AuditEntry


@pytest.fixture(autouse=True)
def _empty_cache():
    cache.clear()


def _sign_in(client, username: str, password: str):
    return client.post(reverse("login"), {"username": username, "password": password})


def test_it_refuses_sign_in_after_too_many_failures(client, rep, settings):
    for _ in range(settings.LOGIN_FAILURE_LIMIT):
        assert "Please enter a correct username" in _sign_in(client, "rita", "nope").text

    response = _sign_in(client, "rita", "pw")

    assert "Too many failed sign-ins" in response.text
    assert "_auth_user_id" not in client.session


def test_it_limits_one_account_without_locking_out_others(client, rep, admin_user, settings):
    for _ in range(settings.LOGIN_FAILURE_LIMIT):
        _sign_in(client, "rita", "nope")

    assert _sign_in(client, "adam", "pw").status_code == 302


def test_it_forgets_failures_after_a_successful_sign_in(client, rep, settings):
    for _ in range(settings.LOGIN_FAILURE_LIMIT - 1):
        _sign_in(client, "rita", "nope")
    assert _sign_in(client, "rita", "pw").status_code == 302
    client.logout()

    _sign_in(client, "rita", "nope")

    assert _sign_in(client, "rita", "pw").status_code == 302


@pytest.mark.parametrize("page", ["overview", "contacts", "emails"])
def test_it_logs_each_sequence_page_support_reviews(client, support, rep, make_sequence, page):
    sequence = make_sequence(rep)
    client.force_login(support)

    client.get(reverse(f"sequences:{page}", args=[sequence.pk]))

    entry = AuditEntry.objects.get()
    assert (entry.action, entry.actor, entry.organization) == (
        "review_account",
        support,
        sequence.organization,
    )
    assert entry.detail["page"] == reverse(f"sequences:{page}", args=[sequence.pk])


def test_it_logs_supports_review_of_an_organization(client, support, organization):
    client.force_login(support)

    client.get(reverse("sequences:organization_detail", args=[organization.slug]))

    assert AuditEntry.objects.get().target_label == "Acme"


def test_it_does_not_log_customers_own_views(client, rep, make_sequence):
    sequence = make_sequence(rep)
    client.force_login(rep)

    client.get(reverse("sequences:emails", args=[sequence.pk]))
    client.get(reverse("sequences:emails", args=[sequence.pk]), headers={"HX-Request": "true"})

    assert not AuditEntry.objects.exists()
