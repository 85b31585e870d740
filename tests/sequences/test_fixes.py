"""The one-click fixes: state change, re-rendered table, audit entry, refusals."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from django.utils.html import escape

from diagnostics.diagnosis import diagnose
from sequences.models import AuditEntry, Contact, Enrollment, Mailbox, ScheduledEmail
from sequences.services.contacts import contact_bounce
from tests.support import send_through, wait_for

Status = ScheduledEmail.Status
HTMX = {"HX-Request": "true"}


@pytest.fixture
def sequence(rep, make_sequence):
    return make_sequence(rep, name="Outbound", steps=1)


@pytest.fixture
def blocked(sequence, make_email):
    def make(address: str, category: str = "recipient_address_invalid", **fields: object):
        return make_email(
            sequence,
            email=address,
            **{
                "status": Status.BLOCKED,
                "next_attempt_at": None,
                "last_error": "[402] Invalid character in recipient address",
                "error_code": "nylas.402.invalid_character",
                "error_category": category,
                **fields,
            },
        )

    return make


def _post(client, name: str, args: list, data: dict, **headers: str):
    return client.post(reverse(f"sequences:{name}", args=args), data, headers=headers)


def test_it_reschedules_one_email_and_rerenders_the_table(client, rep, sequence, blocked):
    email = blocked("pat@example.test")
    client.force_login(rep)

    response = _post(client, "emails_reschedule", [sequence.pk], {"email": email.pk}, **HTMX)

    email.refresh_from_db()
    assert email.status == Status.SCHEDULED
    assert email.next_attempt_at is not None
    assert response.text.lstrip().startswith('<div id="emails-table"')
    assert "1 rescheduled" in response.headers["HX-Trigger"]
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.actor, entry.detail["emails"]) == ("reschedule", rep, [email.pk])


def test_it_reschedules_a_whole_group(client, admin_user, sequence, blocked):
    emails = [blocked(f"c{n}@example.test") for n in range(3)]
    other = blocked("x@example.test", category="content_rejected")
    client.force_login(admin_user)

    _post(
        client,
        "emails_reschedule",
        [sequence.pk],
        {"status": "blocked", "category": "recipient_address_invalid"},
        **HTMX,
    )

    assert {e.status for e in ScheduledEmail.objects.filter(pk__in=[e.pk for e in emails])} == {
        Status.SCHEDULED
    }
    other.refresh_from_db()
    assert other.status == Status.BLOCKED


def test_it_redirects_with_a_message_without_htmx(client, rep, sequence, blocked):
    email = blocked("pat@example.test")
    client.force_login(rep)

    response = _post(client, "emails_reschedule", [sequence.pk], {"email": email.pk})

    assert response.status_code == 302
    assert response.url == reverse("sequences:emails", args=[sequence.pk])


def test_it_refuses_a_fix_to_support_staff(client, support, sequence, blocked):
    email = blocked("pat@example.test")
    client.force_login(support)

    response = _post(client, "emails_reschedule", [sequence.pk], {"email": email.pk}, **HTMX)

    assert response.status_code == 403
    email.refresh_from_db()
    assert email.status == Status.BLOCKED
    assert not AuditEntry.objects.exists()


@pytest.mark.parametrize("who", ["outsider", "teammate"])
def test_it_hides_another_persons_sequence(client, request, who, sequence, blocked):
    email = blocked("pat@example.test")
    client.force_login(request.getfixturevalue(who))

    response = _post(client, "emails_reschedule", [sequence.pk], {"email": email.pk}, **HTMX)

    assert response.status_code == 404


def test_it_refuses_a_post_without_csrf_token(rep, sequence, blocked):
    email = blocked("pat@example.test")
    client = Client(enforce_csrf_checks=True)
    client.force_login(rep)

    response = _post(client, "emails_reschedule", [sequence.pk], {"email": email.pk}, **HTMX)

    assert response.status_code == 403
    email.refresh_from_db()
    assert email.status == Status.BLOCKED


def test_it_answers_405_to_a_get_on_a_fix(client, rep, sequence):
    client.force_login(rep)

    url = reverse("sequences:emails_reschedule", args=[sequence.pk])
    assert client.get(url).status_code == 405


def test_it_corrects_an_address_and_resends(client, admin_user, sequence, blocked):
    email = blocked("pat@exämple.test")
    email.contact.state = Contact.State.ACTIVE
    email.contact.save()
    client.force_login(admin_user)

    response = _post(
        client,
        "contact_edit_email",
        [sequence.pk, email.contact_id],
        {"address": " Pat@Example.test "},
        **HTMX,
    )

    assert response.status_code == 200
    email.refresh_from_db()
    assert email.contact.email == "Pat@example.test"
    assert email.status == Status.SCHEDULED
    assert "Pat@example.test" in response.text
    entry = AuditEntry.objects.get(action="edit_contact")
    assert entry.detail == {"old": "pat@exämple.test", "new": "Pat@example.test"}


@pytest.mark.parametrize(
    ("address", "message"),
    [
        ("bob,nobody@example.test", "invalid characters before the @-sign: &#x27;,&#x27;"),
        ("pat@@example.test", "not a valid email address"),
        ("taken@example.test", "already has this address"),
    ],
)
def test_it_refuses_a_bad_address_and_changes_nothing(
    client, admin_user, sequence, blocked, make_email, address, message
):
    email = blocked("pat@example.test")
    make_email(sequence, email="taken@example.test")
    client.force_login(admin_user)

    response = _post(
        client, "contact_edit_email", [sequence.pk, email.contact_id], {"address": address}, **HTMX
    )

    assert message in response.text
    assert response.headers["HX-Retarget"] == f"#contact-error-{email.contact_id}"
    email.refresh_from_db()
    assert (email.contact.email, email.status) == ("pat@example.test", Status.BLOCKED)
    assert not AuditEntry.objects.exists()


def test_it_accepts_an_international_address(client, admin_user, sequence, blocked):
    email = blocked("pat@example.test")
    client.force_login(admin_user)

    _post(
        client,
        "contact_edit_email",
        [sequence.pk, email.contact_id],
        {"address": "josé@example.test"},
        **HTMX,
    )

    # Sent where the mailbox's server offers SMTPUTF8; else blocked then, with the reason.
    email.refresh_from_db()
    assert (email.contact.email, email.status) == ("josé@example.test", Status.SCHEDULED)


def test_it_lets_reps_edit_addresses_only_where_the_organization_allows(
    client, rep, sequence, blocked
):
    email = blocked("pat@exämple.test")
    client.force_login(rep)
    url_args = [sequence.pk, email.contact_id]

    refused = _post(client, "contact_edit_email", url_args, {"address": "pat@example.test"})
    sequence.organization.reps_may_edit_contacts = True
    sequence.organization.save()
    allowed = _post(client, "contact_edit_email", url_args, {"address": "pat@example.test"})

    assert (refused.status_code, allowed.status_code) == (403, 302)


def test_it_suppresses_a_contact_and_cancels_its_pending_emails(
    client, admin_user, sequence, blocked
):
    email = blocked("gone@example.test", category="recipient_unknown", status=Status.FAILED)
    client.force_login(admin_user)

    _post(client, "contact_suppress", [sequence.pk, email.contact_id], {}, **HTMX)

    email.refresh_from_db()
    assert email.contact.state == Contact.State.SUPPRESSED
    assert (email.enrollment.state, email.enrollment.stop_cause) == ("stopped", "suppressed")
    assert AuditEntry.objects.get().action == "suppress_contact"


def test_it_refuses_to_suppress_a_contact_twice(client, admin_user, sequence, blocked):
    email = blocked("gone@example.test")
    client.force_login(admin_user)
    url = [sequence.pk, email.contact_id]
    _post(client, "contact_suppress", url, {}, **HTMX)

    again = _post(client, "contact_suppress", url, {}, **HTMX)

    assert again.status_code == 400
    assert "already suppressed" in again.text
    assert AuditEntry.objects.filter(action="suppress_contact").count() == 1


def test_it_resumes_what_a_bounce_stopped_when_the_address_is_corrected(
    client, admin_user, sequence, blocked, make_sequence, make_email
):
    email = blocked("gone@example.test", category="recipient_unknown", status=Status.FAILED)
    other = make_email(make_sequence(admin_user, name="Other", steps=1), email="gone@example.test")
    contact_bounce(
        contact_id=email.contact_id, diagnosis=diagnose("550 5.1.1 User unknown"), email_id=email.pk
    )
    stopped = Enrollment.objects.get(pk=other.enrollment_id)
    assert (stopped.state, stopped.stop_cause) == ("stopped", "bounced")
    assert ScheduledEmail.objects.get(pk=other.pk).status == Status.CANCELLED
    client.force_login(admin_user)

    _post(
        client,
        "contact_edit_email",
        [sequence.pk, email.contact_id],
        {"address": "found@example.test"},
        **HTMX,
    )

    stopped.refresh_from_db()
    assert (stopped.state, stopped.stop_cause, stopped.stopped_reason) == ("active", "", "")
    email.refresh_from_db()
    assert (email.contact.state, email.status) == (Contact.State.ACTIVE, Status.SCHEDULED)


def test_it_refuses_suppression_to_a_rep(client, rep, sequence, blocked):
    email = blocked("gone@example.test")
    client.force_login(rep)

    response = _post(client, "contact_suppress", [sequence.pk, email.contact_id], {}, **HTMX)

    assert response.status_code == 403


def test_it_shows_only_the_fixes_the_role_may_apply(client, rep, admin_user, sequence, blocked):
    blocked(
        "gone@example.test",
        category="recipient_unknown",
        status=Status.FAILED,
        last_error="550 5.1.1 User unknown",
        error_code="smtp.5.1.1",
    )
    url = reverse("sequences:emails", args=[sequence.pk])

    client.force_login(rep)
    as_rep = client.get(url).text
    client.force_login(admin_user)
    as_admin = client.get(url).text

    assert "Suppress contact" not in as_rep
    assert "Suppress contact" in as_admin


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_it_resynchronizes_a_mailbox_and_reports_the_outcome(
    client, workers, rep, sequence, blocked, sandbox
):
    send_through(sequence.mailbox_id, sandbox, state=Mailbox.State.INVALID_CREDENTIALS)
    held = blocked("pat@example.test", category="mailbox_connection")
    workers.start("resync")
    client.force_login(rep)

    started = _post(client, "mailbox_resync", [sequence.mailbox_id], {}, **HTMX)
    assert "Checking" in started.text
    status_url = started.text.split('hx-get="')[1].split('"')[0].replace("&amp;", "&")
    outcome = wait_for(
        lambda: "Connected" in (text := client.get(status_url, headers=HTMX).text) and text,
        what="the resync outcome",
    )

    assert "1 email rescheduled" in outcome
    held.refresh_from_db()
    assert held.status == Status.SCHEDULED
    assert AuditEntry.objects.get().action == "resync_mailbox"


@pytest.fixture
def uncertain(sequence, make_uncertain_email):
    return make_uncertain_email(sequence, email="sam@example.test")


def test_it_never_reschedules_an_uncertain_delivery_as_a_plain_fix(
    client, rep, sequence, uncertain
):
    client.force_login(rep)

    response = client.post(
        reverse("sequences:emails_reschedule", args=[sequence.pk]),
        {"email": [uncertain.pk]},
        headers=HTMX,
    )

    assert response.status_code == 200
    uncertain.refresh_from_db()
    assert uncertain.status == Status.BLOCKED  # one click must not send a second copy
    assert not AuditEntry.objects.filter(action=AuditEntry.Action.RESCHEDULE).exists()


def test_it_lets_an_admin_send_an_uncertain_email_again_knowingly(
    client, admin_user, sequence, uncertain
):
    client.force_login(admin_user)

    response = client.post(
        reverse("sequences:email_resend_uncertain", args=[sequence.pk, uncertain.pk]),
        headers=HTMX,
    )

    assert response.status_code == 200
    uncertain.refresh_from_db()
    assert uncertain.status == Status.SCHEDULED
    (entry,) = AuditEntry.objects.filter(action=AuditEntry.Action.RESEND_UNCERTAIN)
    assert entry.actor == admin_user
    assert entry.detail["emails"] == [uncertain.pk]
    assert "two copies" in response.headers["HX-Trigger"]


@pytest.mark.parametrize(
    ("who", "offered", "absent"),
    [
        ("rep", "Ask an admin to send it again", "Send again anyway"),
        ("admin_user", "Send again anyway (may duplicate)", "Ask an admin"),
    ],
)
def test_it_offers_no_plain_reschedule_for_an_uncertain_delivery(
    client, request, who, offered, absent, sequence, uncertain
):
    client.force_login(request.getfixturevalue(who))

    page = client.get(reverse("sequences:emails", args=[sequence.pk]) + "?status=blocked")

    html = page.content.decode()
    popover = html[html.index(f'id="why-{uncertain.pk}"') :]
    popover = popover[: popover.index("</template>")]
    assert offered in popover
    assert absent not in popover
    assert ">Reschedule</button>" not in popover
    # What to look for in the Sent folder, in the popover and in the copied case.
    assert "Probably delivered, not confirmed" in popover
    escaped = escape(uncertain.message_id)
    assert popover.count(escaped) >= 2
    assert f"Message-ID: {escaped}" in popover


def test_a_reps_address_fix_reschedules_only_her_own_sequences_emails(
    client, rep, teammate, sequence, blocked, make_sequence, make_email
):
    sequence.organization.reps_may_edit_contacts = True
    sequence.organization.save()
    mine = blocked("pat@exämple.test")
    theirs = make_email(
        make_sequence(teammate, name="Theirs", steps=1),
        email="pat@exämple.test",
        status=Status.BLOCKED,
        next_attempt_at=None,
        last_error="[402] Invalid character in recipient address",
        error_code="nylas.402.invalid_character",
        error_category="recipient_address_invalid",
    )
    client.force_login(rep)

    _post(client, "contact_edit_email", [sequence.pk, mine.contact_id], {"address": "pat@x.test"})

    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert (mine.status, theirs.status) == (Status.SCHEDULED, Status.BLOCKED)
    assert theirs.contact.email == "pat@x.test"  # the address is the contact's, one for all


def test_a_contact_of_another_sequence_is_not_found_from_this_one(
    client, rep, teammate, sequence, blocked, make_sequence, make_email
):
    sequence.organization.reps_may_edit_contacts = True
    sequence.organization.save()
    blocked("pat@example.test")
    teammates = make_email(make_sequence(teammate, name="Theirs", steps=1), email="t@e.test")
    client.force_login(rep)

    theirs = _post(client, "contact_edit_email", [sequence.pk, teammates.contact_id], {})
    missing = _post(client, "contact_edit_email", [sequence.pk, 10**9], {})
    suppress = _post(client, "contact_suppress", [sequence.pk, teammates.contact_id], {})

    assert (theirs.status_code, missing.status_code, suppress.status_code) == (404, 404, 404)
