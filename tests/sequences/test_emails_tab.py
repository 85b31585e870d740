from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from diagnostics.diagnosis import diagnose
from sequences.models import ScheduledEmail

Status = ScheduledEmail.Status
XSS = "550 5.7.1 <script>alert(1)</script><img src=x onerror=alert(2)> blocked"


@pytest.fixture
def sequence(rep, make_sequence):
    return make_sequence(rep, name="Outbound", steps=2)


@pytest.fixture
def emails_url(sequence):
    return reverse("sequences:emails", args=[sequence.pk])


@pytest.fixture
def blocked(make_failed_email):
    def make(
        sequence,
        address: str,
        raw: str,
        code: str = "smtp.5.7.1",
        category: str = "content_rejected",
    ) -> ScheduledEmail:
        return make_failed_email(sequence, email=address, raw=raw, code=code, category=category)

    return make


def test_it_lists_the_sequences_emails_with_a_status_icon_and_label(
    client, rep, sequence, make_email, emails_url
):
    make_email(sequence, email="pat@example.test")
    client.force_login(rep)

    response = client.get(emails_url)

    assert response.status_code == 200
    assert "pat@example.test" in response.text
    assert "icons/status.svg#scheduled" in response.text
    assert "<!doctype html>" in response.text


def test_it_renders_only_the_table_for_htmx(client, rep, sequence, make_email, emails_url):
    make_email(sequence, email="pat@example.test")
    client.force_login(rep)

    response = client.get(emails_url, headers={"HX-Request": "true"})

    assert response.text.lstrip().startswith('<div id="emails-table"')
    assert "pat@example.test" in response.text
    assert "<html" not in response.text


@pytest.mark.parametrize("who", ["outsider", "teammate"])
def test_it_answers_404_to_someone_who_may_not_see_the_sequence(client, request, who, emails_url):
    client.force_login(request.getfixturevalue(who))

    assert client.get(emails_url).status_code == 404


def test_it_lets_support_review_any_sequence_read_only(client, support, emails_url):
    client.force_login(support)

    response = client.get(emails_url)

    assert response.status_code == 200
    assert "read-only review" in response.text


def test_it_explains_an_error_and_escapes_the_raw_reply(client, rep, sequence, blocked, emails_url):
    email = blocked(sequence, "pat@example.test", XSS)
    client.force_login(rep)

    response = client.get(emails_url)

    assert f'aria-controls="why-{email.pk}"' in response.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in response.text
    assert "<script>alert(1)" not in response.text
    assert "<img src=x" not in response.text
    assert "Copy case" in response.text


def test_it_groups_problems_by_cause_above_the_table(client, rep, sequence, blocked, emails_url):
    for n in range(3):
        blocked(sequence, f"c{n}@example.test", "554 5.7.1 Message blocked")
    client.force_login(rep)

    response = client.get(emails_url)

    (group,) = response.context["triage"]
    assert (group.status, group.category, group.count) == ("blocked", "content_rejected", 3)
    assert "Needs attention" in response.text


def test_it_filters_by_status_cause_and_contact(
    client, rep, sequence, make_email, blocked, emails_url
):
    blocked(sequence, "bad@example.test", "554 5.7.1 Message blocked")
    make_email(sequence, email="ok@example.test")
    client.force_login(rep)

    def shown(**params: str) -> set[str]:
        page = client.get(emails_url, params).context["page"]
        return {e.contact.email for e in page.emails}

    assert shown(status="blocked") == {"bad@example.test"}
    assert shown(category="content_rejected") == {"bad@example.test"}
    assert shown(q="ok@") == {"ok@example.test"}
    # An unknown status is dropped: the default view (the problems, as there is one), and
    # every email one click away.
    assert shown(status="nonsense") == {"bad@example.test"}
    assert shown(status="nonsense", view="all") == {"bad@example.test", "ok@example.test"}


@pytest.fixture
def tied(sequence, make_email):
    """25 emails, five at each of five times: ties on scheduled_for, broken by id."""
    base = timezone.now()
    for n in range(25):
        when = base + dt.timedelta(minutes=n % 5)
        make_email(sequence, email=f"c{n}@example.test", scheduled_for=when, next_attempt_at=when)


def _forward(client, emails_url):
    """Every page from the first by Older emails (10 a page): their ids, and the last."""
    pages, cursor = [], ""
    while True:
        page = client.get(emails_url, {"size": 10, "after": cursor}).context["page"]
        pages.append([e.pk for e in page.emails])
        if not page.next_cursor:
            return pages, page
        cursor = page.next_cursor


def test_it_pages_by_keyset_without_overlap(client, rep, tied, emails_url):
    client.force_login(rep)

    pages, page = _forward(client, emails_url)

    seen = [pk for ids in pages for pk in ids]
    assert len(seen) == len(set(seen)) == 25
    assert page.count == 25
    assert page.previous_cursor is not None


def test_it_pages_back_to_newer_emails_and_the_first_page(client, rep, tied, emails_url):
    client.force_login(rep)
    pages, page = _forward(client, emails_url)

    back = client.get(emails_url, {"size": 10, "before": page.previous_cursor}).context["page"]
    first = client.get(emails_url, {"size": 10, "before": back.previous_cursor}).context["page"]

    assert [e.pk for e in back.emails] == pages[1]
    assert [e.pk for e in first.emails] == pages[0]
    assert first.previous_cursor is None  # nothing newer than the first page
    assert back.next_cursor is not None


def test_a_rep_sees_the_problems_first_then_what_goes_out_next(
    client, rep, sequence, make_email, blocked, emails_url
):
    now = timezone.now()
    for days, address in ((30, "far@example.test"), (1, "soon@example.test")):
        when = now + dt.timedelta(days=days)
        make_email(sequence, email=address, scheduled_for=when, next_attempt_at=when)
    make_email(
        sequence, email="done@example.test", status=Status.SENT, sent_at=now, message_id="<d@t>"
    )
    client.force_login(rep)

    def shown(**params: str) -> list[str]:
        return [e.contact.email for e in client.get(emails_url, params).context["page"].emails]

    # Nothing wrong: what goes out next, the soonest first, and nothing already sent.
    assert shown() == ["soon@example.test", "far@example.test"]
    problem = blocked(sequence, "bad@example.test", "554 5.7.1 Message blocked")
    # A problem: it comes first, by itself, and every other view is one click away.
    html = client.get(emails_url).text
    assert shown() == ["bad@example.test"]
    assert '<a href="?view=attention"' in html
    assert 'aria-current="page">Needs attention' in html
    for view in ("upcoming", "sent", "all"):
        assert f'<a href="?view={view}"' in html
    assert shown(view="upcoming") == ["soon@example.test", "far@example.test"]
    assert shown(view="sent") == ["done@example.test"]
    assert len(shown(view="all")) == 4
    # Fixed, the view polled stays the one the rep was reading, and says it is clear.
    problem.status, problem.next_attempt_at = Status.SCHEDULED, problem.scheduled_for
    problem.save()
    assert "Nothing needs attention." in client.get(emails_url, {"view": "attention"}).text


def test_up_next_pages_on_to_later_emails(client, rep, sequence, make_email, emails_url):
    now = timezone.now()
    for n in range(25):
        when = now + dt.timedelta(hours=n + 1)
        make_email(sequence, email=f"c{n}@example.test", scheduled_for=when, next_attempt_at=when)
    client.force_login(rep)

    first = client.get(emails_url, {"size": 10})
    later = client.get(emails_url, {"size": 10, "after": first.context["page"].next_cursor})
    back = client.get(emails_url, {"size": 10, "before": later.context["page"].previous_cursor})

    def addresses(response) -> list[str]:
        return [e.contact.email for e in response.context["page"].emails]

    assert addresses(first) == [f"c{n}@example.test" for n in range(10)]
    assert addresses(later) == [f"c{n}@example.test" for n in range(10, 20)]
    assert addresses(back) == addresses(first)
    assert "Later emails</a>" in first.text
    assert "Sooner emails</a>" in later.text


def test_the_pages_links_keep_the_filters(client, rep, sequence, make_email, emails_url):
    for n in range(12):
        make_email(sequence, email=f"c{n}@example.test")
    client.force_login(rep)

    html = client.get(emails_url, {"size": 10, "q": "example"}).text
    cursor = client.get(emails_url, {"size": 10, "q": "example"}).context["page"].next_cursor
    second = client.get(emails_url, {"size": 10, "q": "example", "after": cursor}).text

    assert 'href="?q=example&amp;after=' in html
    assert '<a href="?q=example" hx-get="?q=example"' in second
    assert ">First</a>" in second
    assert 'href="?q=example&amp;before=' in second


def test_it_shows_times_in_the_viewers_time_zone(client, rep, sequence, make_email, emails_url):
    when = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)
    make_email(sequence, email="pat@example.test", scheduled_for=when, next_attempt_at=when)
    client.force_login(rep)
    client.cookies["tz"] = "Asia/Tokyo"

    assert "Nov 23, 18:00" in client.get(emails_url).text


@pytest.mark.parametrize("rows", [10, 200])
def test_it_runs_a_constant_number_of_queries_whatever_the_page_size(
    client, rep, sequence, make_email, blocked, emails_url, rows, django_assert_num_queries
):
    for n in range(rows):
        if n % 2:
            blocked(sequence, f"c{n}@example.test", "554 5.7.1 Message blocked")
        else:
            make_email(sequence, email=f"c{n}@example.test")
    client.force_login(rep)

    # session, user, membership, sequence, count, page, attempts, emails held by the
    # mailbox, the mailbox's failing domain checks (the refusals' popovers show them, read
    # once for all), whether anything is in flight, triage, triage mailboxes; the same for
    # the htmx table, which redraws Needs attention with it
    for headers in ({}, {"HX-Request": "true"}):
        with django_assert_num_queries(12):
            response = client.get(emails_url, {"size": rows, "view": "all"}, headers=headers)
        assert len(response.context["page"].emails) == rows


def test_it_shows_every_attempt_verbatim_on_the_timeline(client, rep, sequence, blocked):
    email = blocked(sequence, "pat@example.test", XSS)
    client.force_login(rep)

    response = client.get(reverse("sequences:email_timeline", args=[sequence.pk, email.pk]))

    assert "Attempt 1" in response.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in response.text
    assert "No further attempt" in response.text


def test_it_hides_the_timeline_of_another_sequences_email(
    client, rep, sequence, make_sequence, outsider, make_email
):
    foreign = make_email(make_sequence(outsider, name="Theirs"), email="x@example.test")
    client.force_login(rep)

    url = reverse("sequences:email_timeline", args=[sequence.pk, foreign.pk])
    assert client.get(url).status_code == 404


def test_it_lists_the_sequences_contacts_on_their_tab(client, rep, sequence, make_email):
    make_email(sequence, email="pat@example.test")
    client.force_login(rep)

    response = client.get(reverse("sequences:contacts", args=[sequence.pk]))

    assert "pat@example.test" in response.text
    assert 'aria-current="page">Contacts' in response.text


def test_it_hides_another_organizations_contacts_tab(client, outsider, sequence):
    client.force_login(outsider)

    assert client.get(reverse("sequences:contacts", args=[sequence.pk])).status_code == 404


def test_it_lists_uncertain_and_stuck_emails_apart_without_a_bulk_resend(
    client, rep, sequence, make_email, blocked, emails_url
):
    for n in range(2):
        blocked(
            sequence,
            f"u{n}@example.test",
            "Delivery uncertain: sending stopped after the message was handed to the SMTP "
            "server (Message-ID <x@y>).",
            code=ScheduledEmail.DELIVERY_UNCERTAIN,
            category="unknown",
        )
    other = blocked(sequence, "o@example.test", "Weird reply", code="unknown", category="unknown")
    long_ago = timezone.now() - dt.timedelta(hours=1)
    make_email(
        sequence,
        email="s@example.test",
        status="sending",
        claimed_at=long_ago,
        next_attempt_at=None,
    )
    client.force_login(rep)

    page = client.get(emails_url).text
    client.post(
        reverse("sequences:emails_reschedule", args=[sequence.pk]),
        {"status": "blocked", "category": "unknown"},
    )

    assert "<strong>2</strong> blocked: Delivery uncertain" in page
    assert "<strong>1</strong> sending: for longer than a send may take" in page
    assert "Reschedule all 2" not in page
    # The group of other unknown refusals is rescheduled; the uncertain ones are not.
    other.refresh_from_db()
    assert other.status == "scheduled"
    assert (
        ScheduledEmail.objects.filter(
            error_code=ScheduledEmail.DELIVERY_UNCERTAIN, status="blocked"
        ).count()
        == 2
    )


def _polls(html: str) -> str | None:
    """The URL the table refreshes itself from, or None when it does not."""
    table = html[html.index('<div id="emails-table"') :]
    table = table[: table.index(">")]
    if 'hx-trigger="every 10s"' not in table:
        return None
    return table.split('hx-get="')[1].split('"')[0].replace("&amp;", "&")


def test_it_refreshes_while_anything_in_the_sequence_is_in_flight(
    client, rep, sequence, make_email, blocked, emails_url
):
    blocked(sequence, "pat@example.test", "554 5.7.1 Message blocked")
    far = timezone.now() + dt.timedelta(days=3)
    make_email(sequence, email="sam@example.test", scheduled_for=far, next_attempt_at=far)
    client.force_login(rep)
    assert _polls(client.get(emails_url).text) is None  # nothing will change by itself

    # Not on the page shown (blocked only), yet it will change: the table refreshes.
    make_email(sequence, email="lee@example.test", status=Status.RETRYING)
    html = client.get(emails_url, {"status": "blocked"}).text

    assert _polls(html) == f"{emails_url}?status=blocked"


def test_an_email_due_soon_is_in_flight(client, rep, sequence, make_email, emails_url):
    soon = timezone.now() + dt.timedelta(minutes=5)
    make_email(sequence, email="pat@example.test", scheduled_for=soon, next_attempt_at=soon)
    client.force_login(rep)

    # Polled with the view the page resolved to, which it keeps once the email is sent.
    assert _polls(client.get(emails_url).text) == f"{emails_url}?view=upcoming"


def test_after_a_fix_the_table_polls_its_page_with_its_filters(
    client, rep, sequence, blocked, make_email, emails_url
):
    email = blocked(sequence, "pat@example.test", "554 5.7.1 Message blocked")
    make_email(sequence, email="lee@example.test", status=Status.RETRYING)
    client.force_login(rep)

    response = client.post(
        reverse("sequences:emails_reschedule", args=[sequence.pk]),
        {"email": email.pk},
        headers={"HX-Request": "true", "HX-Current-URL": f"http://t{emails_url}?status=blocked"},
    )

    assert _polls(response.text) == f"{emails_url}?status=blocked"


def test_needs_attention_is_redrawn_with_the_table_after_a_bulk_fix(
    client, rep, sequence, blocked, emails_url
):
    for n in range(3):
        blocked(sequence, f"c{n}@example.test", "554 5.7.1 Message blocked")
    client.force_login(rep)
    assert "Reschedule all 3" in client.get(emails_url).text

    response = client.post(
        reverse("sequences:emails_reschedule", args=[sequence.pk]),
        {"status": "blocked", "category": "content_rejected"},
        headers={"HX-Request": "true", "HX-Current-URL": f"http://t{emails_url}"},
    )

    triage = response.text[response.text.index('<section id="triage"') :]
    assert 'hx-swap-oob="true"' in triage.split(">")[0]
    assert " hidden" in triage.split(">")[0]  # nothing needs attention any more
    assert "Reschedule all" not in triage


def test_a_row_has_a_checkbox_only_where_reschedule_applies(
    client, rep, sequence, blocked, make_uncertain_email, emails_url
):
    fixable = blocked(sequence, "pat@example.test", "554 5.7.1 Message blocked")
    bounced = blocked(sequence, "sam@example.test", "550 5.1.1 User unknown")
    bounced.contact.state = bounced.contact.State.BOUNCED
    bounced.contact.save()
    uncertain = make_uncertain_email(sequence, email="lee@example.test")
    client.force_login(rep)

    html = client.get(emails_url).text

    assert f'value="{fixable.pk}" form="bulk-form"' in html
    assert f'value="{bounced.pk}" form="bulk-form"' not in html
    assert f'value="{uncertain.pk}" form="bulk-form"' not in html
    assert "data-needs-selection disabled>Reschedule selected" in html


def test_a_rep_is_told_which_fix_needs_an_admin_and_whom_to_ask(
    client, rep, admin_user, sequence, blocked, emails_url
):
    admin_user.email = "adam@acme.test"
    admin_user.save()
    blocked(
        sequence, "pat@example.test", "550 5.1.1 User unknown", "smtp.5.1.1", "recipient_unknown"
    )
    client.force_login(rep)

    rep_view = client.get(emails_url).text
    client.force_login(admin_user)
    admin_view = client.get(emails_url).text

    assert (
        "An admin can suppress the contact or edit the contact&#x27;s address: ask Adam "
        "(adam@acme.test)."
    ) in rep_view
    assert "An admin can" not in admin_view


def test_the_timeline_leads_back_to_the_emails_as_they_were_filtered(
    client, rep, sequence, blocked, emails_url
):
    email = blocked(sequence, "pat@example.test", "554 5.7.1 Message blocked")
    client.force_login(rep)

    tab = client.get(emails_url, {"status": "blocked", "q": "pat"}).text
    timeline_url = reverse("sequences:email_timeline", args=[sequence.pk, email.pk])
    timeline = client.get(timeline_url, {"status": "blocked", "q": "pat"}).text

    assert f'href="{timeline_url}?status=blocked&amp;q=pat"' in tab
    assert f'href="{emails_url}?status=blocked&amp;q=pat">Back to the emails' in timeline


def test_a_screen_reader_hears_the_title_and_explanation_not_the_dialog(
    client, rep, sequence, blocked, emails_url
):
    email = blocked(sequence, "pat@example.test", "554 5.7.1 Message blocked")
    client.force_login(rep)

    html = client.get(emails_url).text

    assert f'aria-describedby="why-said-{email.pk}"' in html
    said = html.split(f'<span id="why-said-{email.pk}" hidden>')[1].split("</span>")[0]
    diagnosis = diagnose("554 5.7.1 Message blocked")
    assert said == escape(f"{diagnosis.title}. {diagnosis.explanation}")
    assert "<form" not in said
    assert '<a class="skip-link" href="#emails-table">' in html
