"""The permission matrix: every page and every fix, as each role, same and other organization.

Rows are endpoints, columns the people asking: the sequence's owner (a rep), a teammate
rep who does not own it, an admin of the organization, vendor support, and an admin of
another organization. 404 means "not yours to know about", 403 "visible, not allowed".
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from sequences.models import AuditEntry, Contact, ScheduledEmail, Sequence
from sequences.unsubscribe import unsubscribe_token

PEOPLE = ("owner", "teammate", "admin", "support", "outsider")
Status = ScheduledEmail.Status

# endpoint: method, url builder, expected status per person (in PEOPLE order)
MATRIX = {
    "sequence list": ("get", lambda o: reverse("sequences:list"), (200, 200, 200, 302, 200)),
    "contact list": ("get", lambda o: reverse("sequences:contact_list"), (200,) * 4 + (200,)),
    "mailbox list": ("get", lambda o: reverse("sequences:mailbox_list"), (200,) * 5),
    "organization list": (
        "get",
        lambda o: reverse("sequences:organization_list"),
        (403, 403, 403, 200, 403),
    ),
    "organization review": (
        "get",
        lambda o: reverse("sequences:organization_detail", args=["acme"]),
        (403, 403, 403, 200, 403),
    ),
    "sequence overview": (
        "get",
        lambda o: reverse("sequences:overview", args=[o.sequence.pk]),
        (200, 404, 200, 200, 404),
    ),
    "sequence contacts": (
        "get",
        lambda o: reverse("sequences:contacts", args=[o.sequence.pk]),
        (200, 404, 200, 200, 404),
    ),
    "emails tab": (
        "get",
        lambda o: reverse("sequences:emails", args=[o.sequence.pk]),
        (200, 404, 200, 200, 404),
    ),
    "attempt timeline": (
        "get",
        lambda o: reverse("sequences:email_timeline", args=[o.sequence.pk, o.email.pk]),
        (200, 404, 200, 200, 404),
    ),
    "resync progress": (
        "get",
        lambda o: reverse(
            "sequences:mailbox_resync_status", args=[o.sequence.mailbox_id, o.resync.pk]
        ),
        (200, 404, 200, 404, 404),
    ),
    "reschedule": (
        "post",
        lambda o: reverse("sequences:emails_reschedule", args=[o.sequence.pk]),
        (200, 404, 200, 403, 404),
    ),
    "send an uncertain email again": (
        "post",
        lambda o: reverse("sequences:email_resend_uncertain", args=[o.sequence.pk, o.uncertain.pk]),
        (403, 404, 200, 403, 404),
    ),
    "correct address": (
        "post",
        lambda o: reverse("sequences:contact_edit_email", args=[o.sequence.pk, o.contact.pk]),
        (403, 404, 200, 403, 404),
    ),
    "suppress contact": (
        "post",
        lambda o: reverse("sequences:contact_suppress", args=[o.sequence.pk, o.contact.pk]),
        (403, 404, 200, 403, 404),
    ),
    "resume a guarded sequence": (
        "post",
        lambda o: reverse("sequences:resume", args=[o.sequence.pk]),
        (403, 404, 302, 403, 404),
    ),
    "resynchronize mailbox": (
        "post",
        lambda o: reverse("sequences:mailbox_resync", args=[o.sequence.mailbox_id]),
        (200, 404, 200, 404, 404),
    ),
    "mailbox page": (
        "get",
        lambda o: reverse("sequences:mailbox_detail", args=[o.sequence.mailbox_id]),
        (200, 404, 200, 200, 404),
    ),
    "connect a mailbox (page)": (
        "get",
        lambda o: reverse("sequences:mailbox_connect"),
        (200, 200, 200, 403, 200),
    ),
    "connect a mailbox": (
        "post",
        lambda o: reverse("sequences:mailbox_connect"),
        (200, 200, 200, 403, 200),
    ),
    # The OAuth sign-in: a new mailbox (the address is not a mailbox's here: the form is
    # shown again), the mailbox's sign-in again (an SMTP mailbox here: 400, it has none),
    # the callback (no flow of this session matches: refused).
    "sign a new mailbox in with Google": (
        "post",
        lambda o: reverse("sequences:mailbox_oauth_connect", args=["gmail"]),
        (200, 200, 200, 403, 200),
    ),
    "sign the mailbox in with its provider again": (
        "post",
        lambda o: reverse("sequences:mailbox_oauth_reconnect", args=[o.sequence.mailbox_id]),
        (400, 404, 400, 404, 404),
    ),
    "OAuth callback": (
        "get",
        lambda o: reverse("sequences:mailbox_oauth_callback"),
        (400, 400, 400, 403, 400),
    ),
    "mailbox settings": (
        "get",
        lambda o: reverse("sequences:mailbox_edit", args=[o.sequence.mailbox_id]),
        (200, 404, 200, 404, 404),
    ),
    "change the mailbox's settings": (
        "post",
        lambda o: reverse("sequences:mailbox_edit", args=[o.sequence.mailbox_id]),
        (200, 404, 200, 404, 404),
    ),
    # An admin's move names no target mailbox here: not found.
    "move the mailbox's sequences and emails": (
        "post",
        lambda o: reverse("sequences:mailbox_move", args=[o.sequence.mailbox_id]),
        (403, 404, 404, 404, 404),
    ),
    "check the mailbox's domain": (
        "post",
        lambda o: reverse("deliverability:check", args=[o.sequence.mailbox_id]),
        (200, 404, 200, 403, 404),
    ),
    "domain check progress": (
        "get",
        lambda o: reverse("deliverability:check_status", args=[o.sequence.mailbox_id, o.check.pk]),
        (200, 404, 200, 200, 404),
    ),
    # A teammate's objects, reached through this sequence's own routes.
    "a teammate's email, under this sequence": (
        "get",
        lambda o: reverse("sequences:email_timeline", args=[o.sequence.pk, o.theirs.email.pk]),
        (404,) * 5,
    ),
    "send a teammate's uncertain email again, under this sequence": (
        "post",
        lambda o: reverse(
            "sequences:email_resend_uncertain", args=[o.sequence.pk, o.theirs.uncertain.pk]
        ),
        (403, 404, 404, 403, 404),
    ),
    "correct the address of another sequence's contact": (
        "post",
        lambda o: reverse("sequences:contact_edit_email", args=[o.sequence.pk, o.stranger.pk]),
        (404,) * 5,
    ),
    "suppress another sequence's contact": (
        "post",
        lambda o: reverse("sequences:contact_suppress", args=[o.sequence.pk, o.stranger.pk]),
        (404,) * 5,
    ),
    "new sequence (page)": (
        "get",
        lambda o: reverse("sequences:create"),
        (200, 200, 200, 403, 200),
    ),
    # The matrix posts no name: the form comes back with its errors.
    "create a sequence": ("post", lambda o: reverse("sequences:create"), (200, 200, 200, 403, 200)),
    "sequence settings": (
        "get",
        lambda o: reverse("sequences:settings", args=[o.sequence.pk]),
        (200, 404, 200, 403, 404),
    ),
    "rename a sequence": (
        "post",
        lambda o: reverse("sequences:rename", args=[o.sequence.pk]),
        (200, 404, 200, 403, 404),
    ),
    "change a sequence's mailbox": (
        "post",
        lambda o: reverse("sequences:change_mailbox", args=[o.sequence.pk]),
        (200, 404, 200, 403, 404),
    ),
    # htmx posts: the answer sends the browser on (HX-Redirect).
    "pause a sequence": (
        "post",
        lambda o: reverse("sequences:pause", args=[o.sequence.pk]),
        (200, 404, 200, 403, 404),
    ),
    # The matrix's sequence is active, not paused by hand: nothing to resume.
    "resume a paused sequence": (
        "post",
        lambda o: reverse("sequences:unpause", args=[o.sequence.pk]),
        (400, 404, 400, 403, 404),
    ),
    "archive a sequence": (
        "post",
        lambda o: reverse("sequences:archive", args=[o.sequence.pk]),
        (200, 404, 200, 403, 404),
    ),
    "steps tab": (
        "get",
        lambda o: reverse("sequences:steps", args=[o.sequence.pk]),
        (200, 404, 200, 200, 404),
    ),
    "new step (page)": (
        "get",
        lambda o: reverse("sequences:step_add", args=[o.sequence.pk]),
        (200, 404, 200, 403, 404),
    ),
    "add a step": (
        "post",
        lambda o: reverse("sequences:step_add", args=[o.sequence.pk]),
        (200, 404, 200, 403, 404),
    ),
    "edit a step (page)": (
        "get",
        lambda o: reverse("sequences:step_edit", args=[o.sequence.pk, o.step.pk]),
        (200, 404, 200, 403, 404),
    ),
    "edit a step": (
        "post",
        lambda o: reverse("sequences:step_edit", args=[o.sequence.pk, o.step.pk]),
        (200, 404, 200, 403, 404),
    ),
    # No direction posted.
    "move a step": (
        "post",
        lambda o: reverse("sequences:step_move", args=[o.sequence.pk, o.step.pk]),
        (400, 404, 400, 403, 404),
    ),
    # Its uncertain email may have reached the contact: the step stays.
    "delete a step": (
        "post",
        lambda o: reverse("sequences:step_delete", args=[o.sequence.pk, o.step.pk]),
        (400, 404, 400, 403, 404),
    ),
    "preview a step": (
        "post",
        lambda o: reverse("sequences:step_preview", args=[o.sequence.pk]),
        (200, 404, 200, 403, 404),
    ),
    "edit a teammate's step, under this sequence": (
        "get",
        lambda o: reverse("sequences:step_edit", args=[o.sequence.pk, o.theirs.step.pk]),
        (404, 404, 404, 403, 404),
    ),
    # Contacts (admins; reps where the organization allows it, which Acme does not here).
    "add a contact (page)": (
        "get",
        lambda o: reverse("sequences:contact_add"),
        (403, 403, 200, 403, 200),
    ),
    "add a contact": (
        "post",
        lambda o: reverse("sequences:contact_add"),
        (403, 403, 200, 403, 200),
    ),
    "contact page": (
        "get",
        lambda o: reverse("sequences:contact_edit", args=[o.contact.pk]),
        (403, 403, 200, 404, 404),
    ),
    "edit a contact": (
        "post",
        lambda o: reverse("sequences:contact_edit", args=[o.contact.pk]),
        (403, 403, 200, 404, 404),
    ),
    "suppress a contact on request": (
        "post",
        lambda o: reverse("sequences:contact_suppress_on_request", args=[o.contact.pk]),
        (403, 403, 302, 404, 404),
    ),
    "unsubscribe a contact on request": (
        "post",
        lambda o: reverse("sequences:contact_unsubscribe", args=[o.contact.pk]),
        (403, 403, 302, 404, 404),
    ),
    "export contacts": (
        "get",
        lambda o: reverse("sequences:contacts_export"),
        (200, 200, 200, 403, 200),
    ),
    # The matrix's POST names no sequence: not found (tests/sequences/test_enrollment.py
    # enrolls as each role).
    "enroll contacts": (
        "post",
        lambda o: reverse("sequences:contacts_enroll"),
        (404,) * 5,
    ),
    "unenroll a contact": (
        "post",
        lambda o: reverse("sequences:enrollment_unenroll", args=[o.sequence.pk, o.enrollment.pk]),
        (302, 404, 302, 403, 404),
    ),
    "unenroll a teammate's contact, under this sequence": (
        "post",
        lambda o: reverse(
            "sequences:enrollment_unenroll", args=[o.sequence.pk, o.theirs.enrollment.pk]
        ),
        (404, 404, 404, 403, 404),
    ),
    "export a sequence's emails": (
        "get",
        lambda o: reverse("sequences:emails_export", args=[o.sequence.pk]),
        (200, 404, 200, 200, 404),
    ),
    "import contacts (page)": (
        "get",
        lambda o: reverse("sequences:contact_import_new"),
        (403, 403, 200, 403, 200),
    ),
    "upload a CSV of contacts": (
        "post",
        lambda o: reverse("sequences:contact_import_new"),
        (403, 403, 200, 403, 200),
    ),
    "an import's page": (
        "get",
        lambda o: reverse("sequences:contact_import", args=[o.contact_import.pk]),
        (200, 404, 200, 404, 404),
    ),
    # No column named for the address: the mapping is refused.
    "start an import": (
        "post",
        lambda o: reverse("sequences:contact_import_start", args=[o.contact_import.pk]),
        (403, 404, 400, 404, 404),
    ),
    "an import's refused rows": (
        "get",
        lambda o: reverse("sequences:contact_import_refusals", args=[o.contact_import.pk]),
        (200, 404, 200, 404, 404),
    ),
    "DKIM selectors": (
        "post",
        lambda o: reverse("deliverability:dkim_selectors", args=[o.sequence.mailbox_id]),
        (403, 404, 302, 403, 404),
    ),
}


# Public routes answer everyone alike, signed in or not: their URL's signed token is the only
# credential (RFC 8058: a mail client posts without a session). The post here lacks the
# one-click field, so it changes nothing: tests/sequences/test_unsubscribe.py posts it.
def _unsubscribe_url(o) -> str:
    token = unsubscribe_token(contact_id=o.email.contact_id, email_id=o.email.pk)
    return reverse("sequences:unsubscribe", args=[token])


PUBLIC = {
    "unsubscribe page": ("get", _unsubscribe_url, 200),
    "one-click unsubscribe": ("post", _unsubscribe_url, 400),
}
CASES = [
    pytest.param(endpoint, person, expected, id=f"{endpoint}-{person}")
    for endpoint, (_, _, codes) in MATRIX.items()
    for person, expected in zip(PEOPLE, codes, strict=True)
]


@pytest.fixture
def objects(rep, teammate, make_fixables, make_email, make_import):
    fixables = make_fixables(rep)
    fixables.contact_import = make_import(rep, "email,first_name\nann@example.test,Ann\n")
    # The teammate's own sequence, and a contact enrolled only there.
    fixables.theirs = make_fixables(teammate, name="Theirs")
    fixables.stranger = make_email(fixables.theirs.sequence, email="tia@example.test").contact
    # Paused by the bounce-rate guard, so that resuming it applies.
    Sequence.objects.filter(pk=fixables.sequence.pk).update(
        first_steps_paused_at=timezone.now(), first_steps_paused_reason="Too many bounces"
    )
    return fixables


@pytest.fixture
def people(rep, teammate, admin_user, support, outsider):
    return dict(zip(PEOPLE, (rep, teammate, admin_user, support, outsider), strict=True))


@pytest.mark.parametrize(("endpoint", "person", "expected"), CASES)
def test_it_answers_each_role_as_designed(client, objects, people, endpoint, person, expected):
    method, url, _ = MATRIX[endpoint]
    client.force_login(people[person])

    send = client.get if method == "get" else client.post
    response = send(url(objects), {"address": "pat@example.org"}, headers={"HX-Request": "true"})

    assert response.status_code == expected


# Pages support may open that show no customer's data: a directory of organizations, and
# lists scoped to the asker's own organization (support has none).
NOT_CUSTOMER_DATA = {"organization list", "contact list", "mailbox list"}
SUPPORT_READS = [
    endpoint
    for endpoint, (method, _, codes) in MATRIX.items()
    if method == "get"
    and codes[PEOPLE.index("support")] == 200
    and endpoint not in NOT_CUSTOMER_DATA
]


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
@pytest.mark.parametrize("endpoint", SUPPORT_READS)
def test_it_records_every_read_by_support_whatever_the_headers(
    client, objects, support, endpoint, htmx
):
    _, url, _ = MATRIX[endpoint]
    client.force_login(support)

    response = client.get(url(objects), headers={"HX-Request": "true"} if htmx else {})

    assert response.status_code == 200
    entry = AuditEntry.objects.get(action=AuditEntry.Action.REVIEW_ACCOUNT)
    assert (entry.action, entry.actor, entry.organization_id) == (
        AuditEntry.Action.REVIEW_ACCOUNT,
        support,
        objects.sequence.organization_id,
    )
    assert entry.detail["page"] == url(objects)


def test_it_folds_supports_refreshes_of_a_page_into_one_entry_a_minute(client, objects, support):
    url = reverse("sequences:emails", args=[objects.sequence.pk])
    client.force_login(support)
    client.get(url)
    for _ in range(3):
        client.get(url, headers={"HX-Request": "true"})
    reviews = AuditEntry.objects.filter(action=AuditEntry.Action.REVIEW_ACCOUNT)
    assert reviews.count() == 1

    reviews.update(created_at=timezone.now() - dt.timedelta(seconds=61))
    client.get(url, headers={"HX-Request": "true"})
    client.get(f"{url}?status=blocked", headers={"HX-Request": "true"})

    pages = sorted(reviews.values_list("detail__page", flat=True))
    assert pages == [url, url, f"{url}?status=blocked"]


@pytest.mark.parametrize("endpoint", list(MATRIX))
def test_it_sends_anonymous_visitors_to_sign_in(client, objects, endpoint):
    method, url, _ = MATRIX[endpoint]

    response = (client.get if method == "get" else client.post)(url(objects))

    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


@pytest.mark.parametrize("person", [*PEOPLE, "anonymous"])
@pytest.mark.parametrize("endpoint", list(PUBLIC))
def test_it_answers_everyone_alike_on_a_public_route(client, objects, people, endpoint, person):
    method, url, expected = PUBLIC[endpoint]
    if person != "anonymous":
        client.force_login(people[person])

    send = client.get if method == "get" else client.post
    response = send(url(objects), {"address": "pat@example.org"})

    assert response.status_code == expected
    assert Contact.objects.get(pk=objects.email.contact_id).state == Contact.State.ACTIVE


def test_it_answers_404_for_an_email_guessed_across_organizations(
    client, objects, outsider, make_sequence, make_email
):
    theirs = make_sequence(outsider, name="Theirs", steps=1)
    their_email = make_email(theirs, email="x@example.test")
    client.force_login(outsider)

    url = reverse("sequences:email_timeline", args=[theirs.pk, objects.email.pk])
    assert client.get(url).status_code == 404
    url = reverse("sequences:emails_reschedule", args=[theirs.pk])
    client.post(url, {"email": objects.email.pk})
    objects.email.refresh_from_db()
    assert objects.email.status == Status.BLOCKED
    # Their own email opens: the 404 above is about the organization, not the address.
    own = reverse("sequences:email_timeline", args=[theirs.pk, their_email.pk])
    assert client.get(own).status_code == 200
