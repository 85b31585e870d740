"""The deliverability checks on the mailbox page, the Emails tab and the support review."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse
from django.utils.html import escape

from deliverability.checks import Check, Verdict
from deliverability.models import DomainCheckResult, DomainCheckRun
from deliverability.services import domain_check_run, domain_check_start
from sequences.models import AuditEntry, Mailbox

pytestmark = pytest.mark.django_db
HTMX = {"HX-Request": "true"}
# What Gmail answers when SPF and DKIM both fail.
NOT_AUTHENTICATED = (
    "550 5.7.26 This mail has been blocked because the sender is unauthenticated. "
    "Gmail requires all senders to authenticate with either SPF or DKIM."
)


@pytest.fixture
def sequence(rep, make_sequence):
    sequence = make_sequence(rep, name="Outbound", steps=1)
    Mailbox.objects.filter(pk=sequence.mailbox_id).update(
        email="rita@nospf.test", provider=Mailbox.Provider.GMAIL
    )
    sequence.mailbox.refresh_from_db()
    return sequence


def check(mailbox: Mailbox, scope: str = DomainCheckRun.Scope.ALL) -> DomainCheckRun:
    run = domain_check_start(mailbox=mailbox, scope=scope, trigger=DomainCheckRun.Trigger.SCHEDULE)
    return domain_check_run(run_id=run.pk)


def test_it_shows_each_check_and_the_record_to_add_on_the_mailbox_page(
    client, dns_settings, rep, sequence, django_assert_num_queries
):
    check(sequence.mailbox)
    spf = DomainCheckResult.objects.get(kind=Check.SPF, current=True)
    assert spf.verdict == Verdict.FAIL
    client.force_login(rep)

    url = reverse("sequences:mailbox_detail", args=[sequence.mailbox_id])
    with django_assert_num_queries(6):
        page = client.get(url).content.decode()

    assert "Deliverability of nospf.test" in page
    assert escape(spf.explanation) in page
    assert escape(spf.record) in page
    assert f'data-copy="record-{spf.pk}"' in page
    assert 'class="badge badge--new"' in page
    for label in ("MX records", "SPF", "DKIM", "DMARC", "Blocklists"):
        assert label in page
    assert "Check SPF, DKIM and DMARC" in page  # the owner may run the checks again
    assert 'name="selectors"' not in page  # only admins change the DKIM selectors


def test_it_shows_support_a_newly_failing_check_on_the_account_page(
    client, dns_settings, support, sequence
):
    check(sequence.mailbox)
    client.force_login(support)

    account = client.get(reverse("sequences:organization_detail", args=["acme"])).content.decode()
    mailbox_page = client.get(
        reverse("sequences:mailbox_detail", args=[sequence.mailbox_id])
    ).content.decode()

    assert "SPF (new)" in account
    assert "read-only" in mailbox_page
    assert "Check SPF, DKIM and DMARC" not in mailbox_page


def test_it_shows_a_requested_checks_progress_then_its_results(client, dns_settings, rep, sequence):
    client.force_login(rep)

    response = client.post(
        reverse("deliverability:check", args=[sequence.mailbox_id]),
        {"scope": DomainCheckRun.Scope.DNS_AUTH},
        headers=HTMX,
    )

    run = DomainCheckRun.objects.get()
    assert (run.scope, run.trigger, run.finished_at) == ("check_dns_auth", "person", None)
    progress = response.content.decode()
    assert 'hx-trigger="every 1s"' in progress
    assert "Checking the dns records (mx, spf, dkim, dmarc) of nospf.test" in progress

    domain_check_run(run_id=run.pk)  # what the worker does
    status = reverse("deliverability:check_status", args=[sequence.mailbox_id, run.pk])
    done = client.get(status, headers=HTMX)

    assert "domain-checked" in json.loads(done.headers["HX-Trigger"])
    assert "every 1s" not in done.content.decode()
    shown = done.content.decode()
    assert escape(run.results.get(kind=Check.SPF).explanation) in shown
    # The failure in full, first; what passed in one line after it.
    assert shown.index('data-kind="spf"') < shown.index('class="checks__passed"')
    assert "MX records <code>nospf.test</code>" in shown
    assert 'data-kind="mx"' not in shown
    brief = client.get(status + "?brief=1", headers=HTMX).content.decode()
    assert "checked: 3 passed, 0 warnings, 1 failed" in brief


def test_it_refuses_an_unknown_scope(client, rep, sequence):
    client.force_login(rep)

    response = client.post(
        reverse("deliverability:check", args=[sequence.mailbox_id]), {"scope": "everything"}
    )

    assert response.status_code == 400
    assert not DomainCheckRun.objects.exists()


@pytest.fixture
def emails_tab_with_a_refusal(client, rep, sequence, make_failed_email):
    """The Emails tab as its owner sees it, with an email refused as unauthenticated."""

    def get() -> str:
        make_failed_email(
            sequence,
            email="lee@example.test",
            raw=NOT_AUTHENTICATED,
            code="smtp.5.7.26",
            category="sender_blocked",
        )
        client.force_login(rep)
        return client.get(reverse("sequences:emails", args=[sequence.pk])).content.decode()

    return get


def test_it_offers_the_checks_on_the_emails_tab_for_an_auth_failure(
    emails_tab_with_a_refusal,
):
    page = emails_tab_with_a_refusal()

    assert "Check the DNS records of nospf.test" in page
    assert "Check blocklists for nospf.test" in page
    assert "What the last check of nospf.test found" not in page  # never checked yet


def test_it_says_what_the_last_check_found_in_a_refusals_popover(
    dns_settings, sequence, emails_tab_with_a_refusal
):
    check(sequence.mailbox)
    spf = DomainCheckResult.objects.get(kind=Check.SPF, current=True)

    page = emails_tab_with_a_refusal()

    assert "What the last check of nospf.test found" in page
    assert f"SPF (new): {escape(spf.explanation)}" in page


def test_it_lets_an_admin_set_the_dkim_selectors_to_check(client, admin_user, sequence):
    client.force_login(admin_user)
    url = reverse("deliverability:dkim_selectors", args=[sequence.mailbox_id])

    client.post(url, {"selectors": "  s1   mail2024 "})
    refused = client.post(url, {"selectors": "s1 <script>"}, follow=True).content.decode()

    sequence.mailbox.refresh_from_db()
    assert sequence.mailbox.dkim_selectors == "s1 mail2024"
    (entry,) = AuditEntry.objects.filter(action=AuditEntry.Action.SET_DKIM_SELECTORS)
    assert entry.detail == {"before": "", "after": "s1 mail2024"}
    assert "Selectors are DNS labels" in refused


def test_it_shows_dns_text_as_text_not_html(client, rep, sequence):
    run = domain_check_start(
        mailbox=sequence.mailbox,
        scope=DomainCheckRun.Scope.ALL,
        trigger=DomainCheckRun.Trigger.PERSON,
    )
    DomainCheckResult.objects.create(
        run=run,
        mailbox=sequence.mailbox,
        kind=Check.SPF,
        subject="nospf.test",
        verdict=Verdict.FAIL,
        explanation="Not valid.",
        found='v=spf1 <img src=x onerror="alert(1)"> -all',
        checked_at=run.started_at,
    )
    client.force_login(rep)

    page = client.get(reverse("sequences:mailbox_detail", args=[sequence.mailbox_id]))

    assert b"<img src=x" not in page.content
    assert b"&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in page.content


def test_it_shows_support_each_account_with_its_failing_checks(
    client, dns_settings, support, sequence
):
    check(sequence.mailbox)  # nospf.test: SPF fails, the first time
    check(sequence.mailbox)  # still failing: no longer new
    Mailbox.objects.filter(pk=sequence.mailbox_id).update(email="rita@nodmarc.test")
    sequence.mailbox.refresh_from_db()
    check(sequence.mailbox, DomainCheckRun.Scope.DNS_AUTH)  # DMARC fails, newly; SPF passes
    client.force_login(support)

    response = client.get(reverse("sequences:organization_list"))

    (account,) = response.context["accounts"]
    assert (account.checks_failing, account.checks_newly_failing) == (1, 1)
    assert "1 new" in response.content.decode()
