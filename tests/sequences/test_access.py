"""The audit of what support staff review."""

from __future__ import annotations

import pytest
from django.urls import reverse

from sequences.models import AuditEntry


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
