"""Enrollment: contacts into a sequence, paced within the mailbox's window and caps, the
refusals counted, and unenrolling."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from zoneinfo import ZoneInfo

import pytest
from django.contrib.messages import get_messages
from django.core.management import call_command
from django.urls import reverse

from sequences.models import AuditEntry, Contact, Enrollment, Mailbox, ScheduledEmail
from sequences.services.enrollment import enrollments_create
from tests.support import send_through

Status = ScheduledEmail.Status
pytestmark = pytest.mark.django_db


def _contacts(organization, count: int, prefix: str = "c") -> list[Contact]:
    return Contact.objects.bulk_create(
        Contact(organization=organization, email=f"{prefix}{n}@example.test", first_name="Pat")
        for n in range(count)
    )


def _enroll(client, sequence, contacts):
    return client.post(
        reverse("sequences:contacts_enroll"),
        {"sequence": sequence.pk, "contact": [c.pk for c in contacts]},
    )


@pytest.fixture
def sequence(admin_user, make_sequence):
    return make_sequence(admin_user, name="Outbound", steps=3)


def test_it_enrolls_the_selected_contacts_and_counts_each_refusal(
    client, admin_user, organization, sequence, make_sequence, make_email
):
    fine = _contacts(organization, 3)
    states = [Contact.State.BOUNCED, Contact.State.SUPPRESSED, Contact.State.UNSUBSCRIBED]
    refused = [
        Contact.objects.create(organization=organization, email=f"{s}@example.test", state=s)
        for s in states
    ]
    # Active in another sequence of the same mailbox; and already in this one.
    other = make_sequence(admin_user, name="Other", steps=1)
    other.mailbox = sequence.mailbox
    other.save()
    busy = make_email(other, email="busy@example.test").contact
    already = make_email(sequence, email="already@example.test").contact
    # Active in a sequence of another mailbox: no reason to refuse.
    elsewhere = make_email(make_sequence(admin_user, name="Far"), email="far@example.test").contact
    client.force_login(admin_user)

    response = _enroll(client, sequence, [*fine, *refused, busy, already, elsewhere])

    assert response.status_code == 302
    assert response.url == reverse("sequences:contacts", args=[sequence.pk])
    message = str(next(iter(get_messages(response.wsgi_request))))
    assert message.startswith("Outbound: 4 enrolled, first emails going out")
    assert message.endswith(
        "; not enrolled: 1 already in this sequence, 1 bounced, 1 suppressed, "
        "1 unsubscribed, 1 active in another sequence of this mailbox."
    )
    new = Enrollment.objects.filter(sequence=sequence).exclude(contact=already)
    assert set(new.values_list("contact__email", flat=True)) == {
        *(c.email for c in fine),
        "far@example.test",
    }
    emails = ScheduledEmail.objects.filter(enrollment__in=new)
    assert Counter(emails.values_list("step__position", "status")) == {
        (1, Status.SCHEDULED): 4,
        (2, Status.WAITING): 4,
        (3, Status.WAITING): 4,
    }
    for email in emails.filter(step__position=3):
        first = emails.get(enrollment=email.enrollment, step__position=1)
        assert email.next_attempt_at is None
        assert email.scheduled_for == first.scheduled_for + dt.timedelta(days=6)
    entry = AuditEntry.objects.get(action=AuditEntry.Action.ENROLL_CONTACTS)
    assert entry.detail["enrolled"] == 4


def test_it_lands_1000_contacts_within_the_window_and_caps_in_few_queries(
    admin_user, organization, sequence, make_email, django_assert_max_num_queries
):
    Mailbox.objects.filter(pk=sequence.mailbox_id).update(
        per_minute_limit=7,
        daily_limit=400,
        time_zone="America/New_York",
        sending_days="12345",
        window_start=dt.time(9),
        window_end=dt.time(17),
    )
    sequence.mailbox.refresh_from_db()
    # Already planned: 5 in the window's first minute of the next sending day.
    now = dt.datetime(2026, 12, 4, 21, 0, tzinfo=dt.UTC)  # a Friday, 16:00 in New York
    for n in range(5):
        make_email(
            sequence,
            email=f"early{n}@example.test",
            scheduled_for=now + dt.timedelta(minutes=1),
            next_attempt_at=now + dt.timedelta(minutes=1),
        )
    contacts = _contacts(organization, 1000)

    with django_assert_max_num_queries(20):
        result = enrollments_create(
            actor=admin_user,
            sequence=sequence,
            contacts=Contact.objects.filter(pk__in=[c.pk for c in contacts]),
            now=now,
        )

    assert result.enrolled == 1000
    due = ScheduledEmail.objects.filter(mailbox=sequence.mailbox, status=Status.SCHEDULED)
    times = list(due.values_list("next_attempt_at", flat=True))
    assert len(times) == 1005
    zone = ZoneInfo("America/New_York")
    per_minute = Counter(t.replace(second=0, microsecond=0) for t in times)
    per_day = Counter(t.astimezone(zone).date() for t in times)
    assert max(per_minute.values()) == 7
    assert max(per_day.values()) == 400
    for moment in times:
        local = moment.astimezone(zone)
        assert dt.time(9) <= local.time() < dt.time(17)
        assert local.isoweekday() <= 5
    # Friday's last hour (60 minutes of 7 = 420, capped at the day's 400), then Monday.
    assert per_day[dt.date(2026, 12, 4)] == 400
    assert per_day[dt.date(2026, 12, 7)] == 400
    assert per_day[dt.date(2026, 12, 8)] == 205
    assert min(times) >= now


@pytest.mark.django_db(transaction=True)
def test_enrolled_contacts_get_their_first_email_from_the_pipeline(
    client, admin_user, organization, sequence, sandbox
):
    send_through(sequence.mailbox_id, sandbox)
    contacts = _contacts(organization, 3)
    client.force_login(admin_user)

    _enroll(client, sequence, contacts)
    call_command("dispatch", "--once", stdout=open("/dev/null", "w"))  # noqa: SIM115

    sent = ScheduledEmail.objects.filter(sequence=sequence, status=Status.SENT)
    assert sent.count() == 3
    assert len(sandbox.messages()) == 3


@pytest.mark.parametrize(
    ("person", "expected", "enrolled"),
    [("rep", 302, 1), ("teammate", 404, 0), ("admin_user", 302, 1), ("support", 404, 0)],
)
def test_it_enrolls_into_own_sequences_only(
    client, request, rep, make_sequence, organization, person, expected, enrolled
):
    own = make_sequence(rep, name="Mine", steps=1)
    contact = Contact.objects.create(organization=organization, email="ann@example.test")
    Contact.objects.filter(pk=contact.pk).update(added_by=request.getfixturevalue(person))
    client.force_login(request.getfixturevalue(person))

    response = _enroll(client, own, [contact])

    assert response.status_code == expected
    assert Enrollment.objects.filter(sequence=own).count() == enrolled


def test_it_enrolls_no_contact_the_user_does_not_see(client, rep, make_sequence, organization):
    own = make_sequence(rep, name="Mine", steps=1)
    hidden = Contact.objects.create(organization=organization, email="ann@example.test")
    client.force_login(rep)

    _enroll(client, own, [hidden])

    assert not Enrollment.objects.exists()


def test_it_unenrolls_a_contact_and_cancels_its_pending_emails(
    client, admin_user, sequence, organization
):
    contact = _contacts(organization, 1)[0]
    enrollments_create(
        actor=admin_user, sequence=sequence, contacts=Contact.objects.filter(pk=contact.pk)
    )
    enrollment = Enrollment.objects.get()
    client.force_login(admin_user)
    url = reverse("sequences:enrollment_unenroll", args=[sequence.pk, enrollment.pk])

    assert client.post(url).status_code == 302

    enrollment.refresh_from_db()
    assert (enrollment.state, enrollment.stop_cause) == ("stopped", "unenrolled")
    assert set(enrollment.emails.values_list("status", "status_reason")) == {
        (Status.CANCELLED, "Unenrolled by Adam")
    }
    assert AuditEntry.objects.filter(action=AuditEntry.Action.UNENROLL_CONTACT).count() == 1
    again = client.post(url)
    assert again.status_code == 400


def test_the_sequence_contacts_tab_offers_unenroll(client, admin_user, sequence, organization):
    contact = _contacts(organization, 1)[0]
    enrollments_create(
        actor=admin_user, sequence=sequence, contacts=Contact.objects.filter(pk=contact.pk)
    )
    client.force_login(admin_user)

    body = client.get(reverse("sequences:contacts", args=[sequence.pk])).content.decode()

    assert "Unenroll</button>" in body
