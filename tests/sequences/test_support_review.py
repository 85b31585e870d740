"""The support review: every account's health, and one account's history."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from sequences.models import AuditEntry, Mailbox, ScheduledEmail, SendAttempt

Status = ScheduledEmail.Status


@pytest.fixture
def history(rep, make_sequence, make_email, make_failed_email):
    """Acme today: two sent, three failed on the same reply, one blocked, a broken mailbox."""
    sequence = make_sequence(rep, steps=1)
    now = timezone.now()
    for n in range(2):
        email = make_email(
            sequence,
            email=f"ok{n}@example.test",
            status=Status.SENT,
            sent_at=now,
            message_id=f"<ok{n}@acme.test>",
            next_attempt_at=None,
            attempt_count=1,
        )
        SendAttempt.objects.create(
            email=email, mailbox=email.mailbox, number=1, started_at=now, outcome="sent"
        )
    for n in range(3):
        make_failed_email(
            sequence,
            email=f"gone{n}@example.test",
            raw="550 5.1.1 User unknown",
            code="smtp.5.1.1",
            category="recipient_unknown",
            status=Status.FAILED,
        )
    make_email(
        sequence,
        email="held@example.test",
        status=Status.BLOCKED,
        next_attempt_at=None,
        last_error="535 5.7.8 Authentication credentials invalid",
        error_code="smtp.5.7.8",
        error_category="mailbox_connection",
    )
    Mailbox.objects.filter(pk=sequence.mailbox_id).update(state=Mailbox.State.INVALID_CREDENTIALS)
    return sequence


def test_it_shows_each_accounts_health(
    client, support, history, other_organization, make_sequence, admin_user
):
    make_sequence(admin_user, name="Second")  # more joined rows must not inflate the counts
    client.force_login(support)

    response = client.get(reverse("sequences:organization_list"))

    acme, globex = response.context["accounts"]
    assert (acme.sent, acme.failed, acme.blocked, acme.mailboxes_down) == (2, 3, 1, 1)
    assert acme.top_categories[0] == ("Recipient does not exist", 3)
    assert (globex.sent, globex.failed) == (0, 0)


def test_it_charts_the_last_30_days_on_the_account_page(client, support, history):
    client.force_login(support)

    response = client.get(reverse("sequences:organization_detail", args=["acme"]))

    days = response.context["days"]
    assert len(days) == 30
    assert (days[-1].sent, days[-1].failures) == (2, [("recipient_unknown", 3)])
    assert 'class="bar bar-sent"' in response.text
    assert "3 Recipient does not exist</title>" in response.text
    # A legend of the colours the chart uses, and only those; a count axis from 0 to 5.
    legend = response.text.split('class="chart-legend"')[1].split("</ul>")[0]
    assert "Sent" in legend
    assert "Recipient does not exist" in legend
    assert "Temporary" not in legend
    assert 'text-anchor="end" dominant-baseline="middle">5</text>' in response.text


def test_it_lists_the_most_frequent_replies_with_their_diagnosis(client, support, history):
    client.force_login(support)

    response = client.get(reverse("sequences:organization_detail", args=["acme"]))

    (top,) = response.context["errors"]
    assert (top.raw_error, top.n, top.diagnosis.category) == (
        "550 5.1.1 User unknown",
        3,
        "recipient_unknown",
    )
    assert top.diagnosis.title in response.content.decode()


def test_it_shows_the_customers_fixes_but_not_supports_own_reviews(
    client, support, admin_user, history
):
    AuditEntry.objects.create(
        organization=history.organization,
        actor=admin_user,
        actor_label="Adam",
        action="reschedule",
        target_type="Sequence",
        target_id=str(history.pk),
        target_label=history.name,
    )
    client.force_login(support)

    response = client.get(reverse("sequences:organization_detail", args=["acme"]))

    assert [e.action for e in response.context["fixes"]] == ["reschedule"]


@pytest.mark.parametrize("accounts", [1, 8])
def test_it_reviews_accounts_in_a_constant_number_of_queries(
    client, support, accounts, django_assert_num_queries
):
    from sequences.models import Organization

    for n in range(accounts):
        Organization.objects.create(name=f"Org {n}", slug=f"org-{n}")
    client.force_login(support)

    # session, user, membership, figures, causes, accounts with mailboxes down and checks failing
    with django_assert_num_queries(6):
        client.get(reverse("sequences:organization_list"))


@pytest.mark.parametrize(
    "query",
    ["<ok1@acme.test>", "ok1@acme.test", " ok1@acme.test ", "req-42", "Pat Okafor", "ok1@example"],
)
def test_support_finds_an_email_by_message_id_request_id_or_contact(
    client, support, history, query
):
    from sequences.models import Contact

    email = ScheduledEmail.objects.get(message_id="<ok1@acme.test>")
    Contact.objects.filter(pk=email.contact_id).update(first_name="Pat", last_name="Okafor")
    email.attempts.update(request_id="req-42")
    client.force_login(support)

    response = client.get(reverse("sequences:organization_detail", args=["acme"]), {"q": query})

    assert [e.pk for e in response.context["found"]] == [email.pk]
    timeline = reverse("sequences:email_timeline", args=[email.sequence_id, email.pk])
    assert f'href="{timeline}"' in response.text
    review = AuditEntry.objects.filter(action="review_account").latest("created_at")
    assert "q=" in review.detail["page"]  # what support searched for is on the record


def test_support_finds_nothing_in_another_organization(
    client, support, history, other_organization
):
    client.force_login(support)

    url = reverse("sequences:organization_detail", args=[other_organization.slug])
    response = client.get(url, {"q": "<ok1@acme.test>"})

    assert response.context["found"] == []
    assert "No email of" in response.text


def test_a_sequence_reviewed_by_support_leads_back_to_its_account(
    client, support, rep, make_sequence
):
    sequence = make_sequence(rep, steps=1)
    client.force_login(support)

    html = client.get(reverse("sequences:emails", args=[sequence.pk])).text

    account = reverse("sequences:organization_detail", args=[sequence.organization.slug])
    assert f'<a href="{account}">{sequence.organization}</a>' in html
