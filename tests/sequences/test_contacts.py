"""The Contacts page: search and paging, adding and editing one by the one address rule,
suppressing or unsubscribing one on request, and the CSV exports."""

from __future__ import annotations

import csv
import io

import pytest
from django.urls import reverse

from sequences.models import AuditEntry, Contact, Membership, ScheduledEmail

Status = ScheduledEmail.Status
pytestmark = pytest.mark.django_db


def _rows(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


@pytest.fixture
def reps_may_edit(organization):
    organization.reps_may_edit_contacts = True
    organization.save()
    return organization


def test_it_adds_a_contact_with_its_address_normalized(client, admin_user):
    client.force_login(admin_user)

    response = client.post(
        reverse("sequences:contact_add"),
        {"email": " Ann@EXAMPLE.test ", "first_name": "Ann", "time_zone": "Europe/Paris"},
    )

    assert response.status_code == 302
    contact = Contact.objects.get()
    assert (contact.email, contact.first_name, contact.time_zone) == (
        "Ann@example.test",
        "Ann",
        "Europe/Paris",
    )
    assert contact.added_by == admin_user
    assert AuditEntry.objects.get().action == AuditEntry.Action.ADD_CONTACT


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("ann@", "This is not a valid email address: There must be something after the @-sign."),
        ("Ann <ann@example.test>", "This is not a valid email address"),
        ("ann@example.test, bob@example.test", "This is not a valid email address"),
    ],
)
def test_it_refuses_an_address_that_is_not_one_recipient_saying_why(
    client, admin_user, address, why
):
    client.force_login(admin_user)

    response = client.post(reverse("sequences:contact_add"), {"email": address, "time_zone": "UTC"})

    assert response.status_code == 200
    assert why in response.content.decode()
    assert not Contact.objects.exists()


def test_it_refuses_an_address_another_contact_has(client, admin_user, organization):
    Contact.objects.create(organization=organization, email="ann@example.test", first_name="Ann")
    client.force_login(admin_user)

    response = client.post(
        reverse("sequences:contact_add"), {"email": "ANN@example.test", "time_zone": "UTC"}
    )

    assert "already has this address in your organization" in response.content.decode()
    assert Contact.objects.count() == 1


def test_it_lets_a_rep_add_contacts_where_the_organization_allows_it_and_see_them(
    client, rep, reps_may_edit
):
    client.force_login(rep)

    client.post(reverse("sequences:contact_add"), {"email": "ann@example.test", "time_zone": "UTC"})

    response = client.get(reverse("sequences:contact_list"))
    assert "ann@example.test" in response.content.decode()


def test_it_edits_a_contact_and_reschedules_what_its_old_address_blocked(
    client, admin_user, make_fixables
):
    fixables = make_fixables(admin_user)
    client.force_login(admin_user)
    url = reverse("sequences:contact_edit", args=[fixables.contact.pk])
    assert "pat@example.test" in client.get(url).content.decode()

    response = client.post(
        url,
        {
            "email": "pat@example.org",
            "first_name": "Patricia",
            "company": "Acme",
            "time_zone": "UTC",
        },
    )

    assert response.status_code == 302
    contact = Contact.objects.get(pk=fixables.contact.pk)
    assert (contact.email, contact.first_name, contact.company) == (
        "pat@example.org",
        "Patricia",
        "Acme",
    )
    fixables.email.refresh_from_db()
    assert fixables.email.status == Status.SCHEDULED
    actions = set(AuditEntry.objects.values_list("action", flat=True))
    assert {AuditEntry.Action.UPDATE_CONTACT, AuditEntry.Action.EDIT_CONTACT} <= actions


def test_it_unsubscribes_a_contact_on_request_and_cancels_its_pending_emails(
    client, admin_user, make_fixables
):
    fixables = make_fixables(admin_user)
    client.force_login(admin_user)
    url = reverse("sequences:contact_unsubscribe", args=[fixables.contact.pk])

    assert client.post(url).status_code == 302

    fixables.email.refresh_from_db()
    assert fixables.email.status == Status.CANCELLED
    contact = Contact.objects.get(pk=fixables.contact.pk)
    assert contact.state == Contact.State.UNSUBSCRIBED
    assert contact.state_reason == "On request, noted by Adam"
    assert AuditEntry.objects.filter(action=AuditEntry.Action.UNSUBSCRIBE_CONTACT).count() == 1
    # Twice: the reason, and nothing changes.
    again = client.post(url)
    assert (again.status_code, again.content) == (400, b"pat@example.test is already unsubscribed.")


def test_it_suppresses_a_contact_on_request(client, admin_user, make_fixables):
    fixables = make_fixables(admin_user)
    client.force_login(admin_user)

    client.post(reverse("sequences:contact_suppress_on_request", args=[fixables.contact.pk]))

    assert Contact.objects.get(pk=fixables.contact.pk).state == Contact.State.SUPPRESSED
    fixables.email.refresh_from_db()
    assert fixables.email.status == Status.CANCELLED


@pytest.fixture
def many_contacts(organization):
    Contact.objects.bulk_create(
        Contact(organization=organization, email=f"c{n:03}@example.test", last_name=f"N{n:03}")
        for n in range(120)
    )
    Contact.objects.create(
        organization=organization, email="zed@globex.test", last_name="Zed", company="Zeta"
    )


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
def test_it_searches_and_pages_the_contacts_in_few_queries(
    client, admin_user, many_contacts, django_assert_max_num_queries, htmx
):
    client.force_login(admin_user)
    headers = {"HX-Request": "true"} if htmx else {}

    with django_assert_max_num_queries(8):
        page = client.get(reverse("sequences:contact_list") + "?page=3", headers=headers)
    with django_assert_max_num_queries(8):
        found = client.get(reverse("sequences:contact_list") + "?q=zeta", headers=headers)

    body = page.content.decode()
    assert "c100@example.test" in body
    assert "c099@example.test" not in body
    assert "Page 3 of 3" in body
    assert found.content.decode().count('<tr id="contact-') == 1
    assert ("<h1>" in body) is not htmx


def test_it_exports_the_contacts_as_csv_safe_for_spreadsheets(client, admin_user, organization):
    Contact.objects.create(
        organization=organization, email="eve@example.test", first_name='=HYPERLINK("x")'
    )
    Contact.objects.create(organization=organization, email="bob@example.test", company="+1 Corp")
    client.force_login(admin_user)

    response = client.get(reverse("sequences:contacts_export"))

    rows = _rows(response)
    assert rows[0][:3] == ["email", "first_name", "last_name"]
    assert rows[1][:4] == ["bob@example.test", "", "", "'+1 Corp"]
    assert rows[2][:2] == ["eve@example.test", '\'=HYPERLINK("x")']
    assert response["Content-Disposition"].startswith('attachment; filename="contacts-')
    assert AuditEntry.objects.get().action == AuditEntry.Action.EXPORT_CONTACTS


def test_it_exports_a_sequences_emails_with_status_and_last_error(
    client, support, make_fixables, rep
):
    fixables = make_fixables(rep)
    client.force_login(support)

    response = client.get(reverse("sequences:emails_export", args=[fixables.sequence.pk]))

    rows = _rows(response)
    assert rows[0] == [
        "Contact",
        "Step",
        "Status",
        "Scheduled for",
        "Sent at",
        "Last error",
        "Diagnosis category",
    ]
    blocked = next(row for row in rows if row[0] == "pat@example.test")
    assert blocked[1:3] == ["1", "blocked"]
    assert blocked[5:] == [
        "[402] Invalid character in recipient address",
        "recipient_address_invalid",
    ]
    # Support's download is logged for the customer, as an export and as a review.
    actions = set(AuditEntry.objects.values_list("action", flat=True))
    assert {AuditEntry.Action.EXPORT_EMAILS, AuditEntry.Action.REVIEW_ACCOUNT} <= actions


def test_a_rep_exports_only_the_contacts_they_see(client, rep, teammate, make_fixables):
    make_fixables(teammate, name="Theirs")
    client.force_login(rep)

    rows = _rows(client.get(reverse("sequences:contacts_export")))

    assert rows[1:] == []
    assert Membership.objects.get(user=rep).is_rep
