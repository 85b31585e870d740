"""Every htmx endpoint, with and without `HX-Request`: htmx gets the fragment it swaps in,
a plain request (htmx not loaded, or a link opened in a new tab) a page or a redirect that
works on its own, with the fix's confirmation as a message."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse

from sequences.models import ContactImport, ScheduledEmail, Step

Status = ScheduledEmail.Status
HTMX = {"HX-Request": "true"}


@pytest.fixture
def objects(admin_user, make_fixables, make_import):
    fixables = make_fixables(admin_user)
    # A step no email of which went out: one that may be deleted.
    fixables.spare = Step.objects.create(
        sequence=fixables.sequence, position=2, wait_days=1, subject="Spare", body="Spare"
    )
    fixables.contact_import = make_import(admin_user, "email\nann@example.test\n")
    ContactImport.objects.filter(pk=fixables.contact_import.pk).update(
        status=ContactImport.Status.RUNNING
    )
    return fixables


# endpoint: method, url, data, what htmx gets (the fragment's start), what a plain request
# gets: ("page", text on it) or ("redirect", url name it goes to, text shown there)
ENDPOINTS = {
    "emails table": (
        "get",
        lambda o: reverse("sequences:emails", args=[o.sequence.pk]),
        {},
        '<div id="emails-table"',
        ("page", "Needs attention"),
    ),
    "reschedule": (
        "post",
        lambda o: reverse("sequences:emails_reschedule", args=[o.sequence.pk]),
        {"email": "EMAIL"},
        '<div id="emails-table"',
        ("redirect", "sequences:emails", "1 rescheduled"),
    ),
    "send an uncertain email again": (
        "post",
        lambda o: reverse("sequences:email_resend_uncertain", args=[o.sequence.pk, o.uncertain.pk]),
        {},
        '<div id="emails-table"',
        ("redirect", "sequences:emails", "Sent again anyway"),
    ),
    "correct address": (
        "post",
        lambda o: reverse("sequences:contact_edit_email", args=[o.sequence.pk, o.email.contact_id]),
        {"address": "pat@example.org"},
        '<div id="emails-table"',
        ("redirect", "sequences:emails", "pat@example.org saved"),
    ),
    "correct address, refused": (
        "post",
        lambda o: reverse("sequences:contact_edit_email", args=[o.sequence.pk, o.email.contact_id]),
        {"address": "pat@"},
        '<span class="error" role="alert">',
        ("redirect", "sequences:emails", "This is not a valid email address"),
    ),
    "suppress": (
        "post",
        lambda o: reverse("sequences:contact_suppress", args=[o.sequence.pk, o.email.contact_id]),
        {},
        '<div id="emails-table"',
        ("redirect", "sequences:emails", "pat@example.test suppressed"),
    ),
    "resynchronize": (
        "post",
        lambda o: reverse("sequences:mailbox_resync", args=[o.sequence.mailbox_id]),
        {},
        '<span class="resync-progress"',
        ("redirect", "sequences:mailbox_list", "Checking"),
    ),
    "resync progress": (
        "get",
        lambda o: reverse(
            "sequences:mailbox_resync_status", args=[o.sequence.mailbox_id, o.resync.pk]
        ),
        {},
        '<span class="resync-progress"',
        ("fragment", '<span class="resync-progress"'),
    ),
    "check the domain": (
        "post",
        lambda o: reverse("deliverability:check", args=[o.sequence.mailbox_id]),
        {"scope": "check_dns_auth"},
        '<span class="check-progress"',
        ("redirect", "sequences:mailbox_detail", "Checking example.test"),
    ),
    "check progress": (
        "get",
        lambda o: reverse("deliverability:check_status", args=[o.sequence.mailbox_id, o.check.pk]),
        {},
        '<span class="check-progress"',
        ("fragment", '<span class="check-progress"'),
    ),
    # Asked for after a confirmation (hx-confirm); htmx is sent on with HX-Redirect.
    "archive a sequence": (
        "post",
        lambda o: reverse("sequences:archive", args=[o.sequence.pk]),
        {},
        "",
        ("redirect", "sequences:list", "archived"),
    ),
    "delete a step": (
        "post",
        lambda o: reverse("sequences:step_delete", args=[o.sequence.pk, o.spare.pk]),
        {},
        "",
        ("redirect", "sequences:steps", "Step deleted"),
    ),
    # Only htmx asks for it, as the author types.
    "step preview": (
        "post",
        lambda o: reverse("sequences:step_preview", args=[o.sequence.pk]),
        {"subject": "Hi {{ first_name }}", "body": "Hello"},
        '<section class="preview" id="step-preview"',
        ("fragment", '<section class="preview" id="step-preview"'),
    ),
    "contact list": (
        "get",
        lambda o: reverse("sequences:contact_list"),
        {"q": "pat"},
        '<div id="contact-table"',
        ("page", "pat@example.test"),
    ),
    "import progress": (
        "get",
        lambda o: reverse("sequences:contact_import", args=[o.contact_import.pk]),
        {},
        '<section id="import-progress"',
        ("page", 'id="import-progress"'),
    ),
    "mailbox page": (
        "get",
        # htmx refreshes the results by fetching the page and selecting #domain-results.
        lambda o: reverse("sequences:mailbox_detail", args=[o.sequence.mailbox_id]),
        {},
        "<!doctype html>",
        ("page", 'id="domain-results"'),
    ),
}


def _call(client, objects, endpoint, headers):
    method, url, data, _, _ = ENDPOINTS[endpoint]
    data = {key: objects.email.pk if value == "EMAIL" else value for key, value in data.items()}
    send = client.get if method == "get" else client.post
    return send(url(objects), data, headers=headers)


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
def test_it_answers_htmx_with_the_fragment_it_swaps(client, admin_user, objects, endpoint):
    client.force_login(admin_user)

    response = _call(client, objects, endpoint, HTMX)

    assert response.status_code == 200
    assert response.text.lstrip().lower().startswith(ENDPOINTS[endpoint][3].lower())


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
def test_it_answers_a_plain_request_with_a_page_that_works_alone(
    client, admin_user, objects, endpoint
):
    client.force_login(admin_user)

    response = _call(client, objects, endpoint, {})

    kind, *expected = ENDPOINTS[endpoint][4]
    if kind == "redirect":
        name, text = expected
        assert response.status_code == 302
        assert response.url.startswith(reverse(name, args=_args_of(name, objects)))
        assert text in client.get(response.url).text
    elif kind == "page":
        assert response.status_code == 200
        assert response.text.lstrip().lower().startswith("<!doctype html>")
        assert expected[0] in response.text
    else:
        assert response.status_code == 200
        assert response.text.lstrip().startswith(expected[0])


def _args_of(name: str, objects) -> list[int]:
    if name in ("sequences:mailbox_list", "sequences:list"):
        return []
    return [objects.sequence.mailbox_id if "mailbox" in name else objects.sequence.pk]


def test_it_names_every_htmx_endpoint_of_the_url_conf():
    # A new hx- endpoint must join the table above: these are the views htmx calls.
    htmx_views = {
        "sequences:emails",
        "sequences:emails_reschedule",
        "sequences:email_resend_uncertain",
        "sequences:contact_edit_email",
        "sequences:contact_suppress",
        "sequences:mailbox_resync",
        "sequences:mailbox_resync_status",
        "sequences:mailbox_detail",
        "sequences:contact_list",
        "sequences:contact_import",
        "deliverability:check",
        "deliverability:check_status",
        "sequences:archive",
        "sequences:step_delete",
        "sequences:step_preview",
    }
    used = set()
    for template in Path(settings.BASE_DIR, "templates").rglob("*.html"):
        for tag in re.findall(r"hx-(?:get|post)=\"[^\"]*\"", template.read_text()):
            used |= set(re.findall(r"'([a-z_]+:[a-z_]+)'", tag))
    assert used <= htmx_views
