"""Creating a sequence, renaming it, changing its mailbox, pausing, resuming, archiving."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from sequences.models import AuditEntry, Enrollment, ScheduledEmail, Sequence
from sequences.services.sending import held_steps

Status = ScheduledEmail.Status
Action = AuditEntry.Action


@pytest.fixture
def sequence(rep, make_sequence):
    return make_sequence(rep, name="Outbound", steps=2)


def _sent(make_email, sequence, address):
    return make_email(
        sequence,
        email=address,
        status=Status.SENT,
        sent_at=timezone.now(),
        message_id=f"<{address}>",
        subject="Hello Pat",
        next_attempt_at=None,
    )


def test_it_creates_a_sequence_owned_by_its_creator_and_audits_it(client, rep, make_mailbox):
    mailbox = make_mailbox(rep)
    client.force_login(rep)

    response = client.post(reverse("sequences:create"), {"name": "Q1", "mailbox": mailbox.pk})

    sequence = Sequence.objects.get(name="Q1")
    assert response.status_code == 302
    assert response.url == reverse("sequences:step_add", args=[sequence.pk])
    assert (sequence.owner, sequence.mailbox, sequence.state) == (rep, mailbox, "active")
    entry = AuditEntry.objects.get(action=Action.CREATE_SEQUENCE)
    assert (entry.actor, entry.target_id) == (rep, str(sequence.pk))


def test_it_offers_a_rep_only_the_mailboxes_they_send_from(client, rep, teammate, make_mailbox):
    make_mailbox(rep)
    theirs = make_mailbox(teammate)
    client.force_login(rep)

    page = client.get(reverse("sequences:create")).content.decode()
    response = client.post(reverse("sequences:create"), {"name": "Q1", "mailbox": theirs.pk})

    assert theirs.email not in page
    assert "rita@example.test" in page
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert not Sequence.objects.filter(name="Q1").exists()


def test_an_admin_picks_any_mailbox_of_the_organization_and_a_rep_as_owner(
    client, admin_user, rep, make_mailbox
):
    mailbox = make_mailbox(rep)
    client.force_login(admin_user)

    client.post(
        reverse("sequences:create"), {"name": "For Rita", "mailbox": mailbox.pk, "owner": rep.pk}
    )

    sequence = Sequence.objects.get(name="For Rita")
    assert (sequence.owner, sequence.mailbox) == (rep, mailbox)
    assert AuditEntry.objects.get(action=Action.CREATE_SEQUENCE).actor == admin_user


def test_it_refuses_a_name_the_organization_already_has(client, rep, sequence):
    client.force_login(rep)

    response = client.post(
        reverse("sequences:create"), {"name": "Outbound", "mailbox": sequence.mailbox_id}
    )

    assert "already has a sequence with this name" in response.content.decode()
    assert Sequence.objects.filter(name="Outbound").count() == 1


def test_it_renames_a_sequence_and_audits_the_old_name(client, rep, sequence):
    client.force_login(rep)

    response = client.post(reverse("sequences:rename", args=[sequence.pk]), {"name": "Q2"})

    sequence.refresh_from_db()
    assert response.status_code == 302
    assert sequence.name == "Q2"
    entry = AuditEntry.objects.get(action=Action.RENAME_SEQUENCE)
    assert entry.detail == {"before": "Outbound"}


def test_an_empty_name_is_refused_and_the_title_stays(client, rep, sequence):
    client.force_login(rep)

    response = client.post(reverse("sequences:rename", args=[sequence.pk]), {"name": ""})

    page = response.content.decode()
    assert "This field is required." in page
    assert "<h1>Outbound" in page
    sequence.refresh_from_db()
    assert sequence.name == "Outbound"


def test_it_says_how_many_pending_emails_move_with_the_mailbox_and_moves_them(
    client, rep, sequence, make_email, make_mailbox
):
    pending = make_email(sequence, email="pat@example.test")
    sent = _sent(make_email, sequence, "sue@example.test")
    other = make_mailbox(rep, email="rita.second@example.test")
    client.force_login(rep)

    page = client.get(reverse("sequences:settings", args=[sequence.pk])).content.decode()
    response = client.post(
        reverse("sequences:change_mailbox", args=[sequence.pk]), {"mailbox": other.pk}
    )

    assert "1 pending email (not yet handed to a server) moves with it" in page
    sequence.refresh_from_db()
    pending.refresh_from_db()
    sent.refresh_from_db()
    assert (sequence.mailbox, pending.mailbox) == (other, other)
    assert sent.mailbox_id != other.pk
    message = next(iter(response.wsgi_request._messages)).message
    assert "now sends from rita.second@example.test: 1 pending email moved with it" in message
    entry = AuditEntry.objects.get(action=Action.CHANGE_SEQUENCE_MAILBOX)
    assert entry.detail["emails"] == 1


def test_it_pauses_and_resumes_by_hand_and_leaves_the_bounce_guard_alone(client, rep, sequence):
    guarded = timezone.now()
    Sequence.objects.filter(pk=sequence.pk).update(
        first_steps_paused_at=guarded, first_steps_paused_reason="Too many bounces"
    )
    client.force_login(rep)

    client.post(reverse("sequences:pause", args=[sequence.pk]))
    sequence.refresh_from_db()
    assert sequence.state == Sequence.State.PAUSED
    assert sequence.paused_reason.startswith("Paused by Rita")
    assert set(sequence.steps.values_list("pk", flat=True)) <= set(held_steps())

    client.post(reverse("sequences:unpause", args=[sequence.pk]))
    sequence.refresh_from_db()
    assert (sequence.state, sequence.paused_reason) == (Sequence.State.ACTIVE, "")
    assert sequence.first_steps_paused_at == guarded
    actions = AuditEntry.objects.order_by("created_at").values_list("action", flat=True)
    assert list(actions) == [Action.PAUSE_SEQUENCE, Action.RESUME_SEQUENCE]


def test_it_refuses_to_resume_a_sequence_not_paused_by_hand(client, rep, sequence):
    client.force_login(rep)

    response = client.post(reverse("sequences:unpause", args=[sequence.pk]))

    assert response.status_code == 400
    assert "is not paused" in response.content.decode()
    assert not AuditEntry.objects.exists()


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
def test_it_archives_a_sequence_cancelling_what_it_would_still_send(
    client, rep, sequence, make_email, htmx
):
    pending = make_email(sequence, email="pat@example.test")
    sent = _sent(make_email, sequence, "sue@example.test")
    client.force_login(rep)

    response = client.post(
        reverse("sequences:archive", args=[sequence.pk]),
        headers={"HX-Request": "true"} if htmx else {},
    )

    list_url = f"{reverse('sequences:list')}?archived=1"
    if htmx:
        assert (response.status_code, response["HX-Redirect"]) == (200, list_url)
    else:
        assert (response.status_code, response.url) == (302, list_url)
    sequence.refresh_from_db()
    pending.refresh_from_db()
    sent.refresh_from_db()
    assert sequence.state == Sequence.State.ARCHIVED
    assert (pending.status, pending.status_reason) == (Status.CANCELLED, "Sequence archived")
    assert sent.status == Status.SENT
    assert set(sequence.steps.values_list("pk", flat=True)) <= set(held_steps())
    # Nothing left to send: both enrollments are over.
    assert set(Enrollment.objects.values_list("state", flat=True)) == {Enrollment.State.FINISHED}
    entry = AuditEntry.objects.get(action=Action.ARCHIVE_SEQUENCE)
    assert entry.detail["emails_cancelled"] == 1


def test_archived_sequences_leave_the_list_for_their_own_filter(client, rep, sequence):
    client.force_login(rep)
    client.post(reverse("sequences:archive", args=[sequence.pk]))
    row = reverse("sequences:emails", args=[sequence.pk])

    default = client.get(reverse("sequences:list")).content.decode()
    archived = client.get(reverse("sequences:list"), {"archived": "1"}).content.decode()

    assert row not in default
    assert row in archived
    assert "Archived sequences" in default
    # Archived: no change is offered, and none is accepted.
    page = client.get(reverse("sequences:overview", args=[sequence.pk])).content.decode()
    assert reverse("sequences:pause", args=[sequence.pk]) not in page
    response = client.post(reverse("sequences:rename", args=[sequence.pk]), {"name": "Again"})
    assert response.status_code == 400


def test_the_list_and_the_header_link_to_the_new_pages(client, rep, sequence):
    client.force_login(rep)

    listing = client.get(reverse("sequences:list")).content.decode()
    header = client.get(reverse("sequences:overview", args=[sequence.pk])).content.decode()

    assert reverse("sequences:create") in listing
    assert reverse("sequences:steps", args=[sequence.pk]) in listing
    for name in ("steps", "settings", "pause", "archive"):
        assert reverse(f"sequences:{name}", args=[sequence.pk]) in header


def test_support_sees_no_change_on_a_sequence(client, support, sequence):
    client.force_login(support)

    page = client.get(reverse("sequences:overview", args=[sequence.pk])).content.decode()

    assert reverse("sequences:pause", args=[sequence.pk]) not in page
    assert reverse("sequences:settings", args=[sequence.pk]) not in page
    assert reverse("sequences:steps", args=[sequence.pk]) in page
