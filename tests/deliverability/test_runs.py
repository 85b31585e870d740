"""Deliverability checks of a mailbox's domain: run, recorded, compared with the last run."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager

import dns.zone
import pytest
from django.utils import timezone

from deliverability import selectors
from deliverability.checks import Check, CheckResult, Verdict
from deliverability.models import DomainCheckResult, DomainCheckRun
from deliverability.services import (
    domain_check_record,
    domain_check_request,
    domain_check_run,
    domain_check_start,
)
from deliverability.tasks import check_stale_domains
from sandboxes.dns_server import DnsSandbox
from sequences.models import AuditEntry, Mailbox
from tests.support import wait_for

pytestmark = pytest.mark.django_db
Scope = DomainCheckRun.Scope

# A domain whose SPF record an admin deletes between two checks.
CHANGING = """$TTL 300
@ SOA ns hostmaster 1 3600 600 86400 300
@ NS ns
ns A 192.0.2.53
@ MX 10 mx
mx A 192.0.2.25
_dmarc TXT "v=DMARC1; p=reject"
"""
SPF = '@ TXT "v=spf1 mx -all"\n'


@contextmanager
def serving(settings, zone_text: str) -> Iterator[DnsSandbox]:
    zone = dns.zone.from_text(zone_text, origin="changing.test", relativize=False)
    with DnsSandbox([zone]) as server:
        settings.DNS_NAMESERVERS = [server.nameserver]
        settings.DNS_TIMEOUT = 0.5
        yield server


def run(mailbox: Mailbox, scope: str = Scope.DNS_AUTH) -> DomainCheckRun:
    check = domain_check_start(
        mailbox=mailbox, scope=scope, trigger=DomainCheckRun.Trigger.SCHEDULE
    )
    return domain_check_run(run_id=check.pk)


@pytest.fixture
def changing(rep, make_mailbox) -> Mailbox:
    return make_mailbox(rep, email="rita@changing.test")


def test_it_marks_a_check_that_starts_failing_as_new_once(settings, changing):
    with serving(settings, CHANGING + SPF):
        first = run(changing)
    assert first.results.get(kind=Check.SPF).verdict == Verdict.PASS
    assert first.results.get(kind=Check.MX).verdict == Verdict.PASS

    with serving(settings, CHANGING):
        second = run(changing)
    spf = second.results.get(kind=Check.SPF)
    assert (spf.verdict, spf.newly_failing) == (Verdict.FAIL, True)
    assert spf.record.startswith('changing.test. TXT "v=spf1')
    assert not second.results.get(kind=Check.MX).newly_failing

    with serving(settings, CHANGING):
        third = run(changing)
    spf = third.results.get(kind=Check.SPF)
    assert (spf.verdict, spf.newly_failing) == (Verdict.FAIL, False)

    # Only the latest run's results are current, and the mailbox lists show what fails now.
    current = DomainCheckResult.objects.filter(mailbox=changing, current=True)
    assert {result.run_id for result in current} == {third.pk}
    (listed,) = selectors.mailboxes_with_failing_checks(
        mailboxes=Mailbox.objects.filter(pk=changing.pk)
    )
    assert [result.kind for result in listed.failing] == [Check.SPF]


def test_it_keeps_the_dns_results_current_after_a_blocklist_check(settings, changing):
    with serving(settings, CHANGING + SPF):
        auth = run(changing)
        blocklists = run(changing, Scope.BLOCKLIST)

    current = DomainCheckResult.objects.filter(mailbox=changing, current=True)
    assert {result.kind for result in current.filter(run=auth)} == {
        Check.MX,
        Check.SPF,
        Check.DKIM,
        Check.DMARC,
    }
    assert {result.kind for result in current.filter(run=blocklists)} == {Check.BLOCKLIST}


def test_it_records_a_runs_results_only_once(settings, changing):
    with serving(settings, CHANGING + SPF):
        check = run(changing)
        again = domain_check_run(run_id=check.pk)

    assert again.finished_at == check.finished_at
    assert DomainCheckResult.objects.filter(run=check).count() == 4


def test_it_records_unchecked_results_when_the_server_never_answers(
    dns_settings, rep, make_mailbox
):
    mailbox = make_mailbox(rep, email="rita@slow.test")

    check = run(mailbox)

    assert check.finished_at is not None
    verdicts = {result.kind: result.verdict for result in check.results.all()}
    assert verdicts[Check.SPF] == verdicts[Check.MX] == Verdict.UNCHECKED
    assert "timeout" in check.results.get(kind=Check.SPF).explanation.lower()


def test_it_makes_a_mailbox_due_for_a_check_once_a_day(rep, make_mailbox):
    now = timezone.now()
    checked, stale, never = (make_mailbox(rep, email=f"{n}@example.test") for n in "abc")
    for mailbox, age in ((checked, dt.timedelta(hours=2)), (stale, dt.timedelta(hours=25))):
        domain_check_start(
            mailbox=mailbox, scope=Scope.ALL, trigger=DomainCheckRun.Trigger.SCHEDULE, now=now - age
        )
    # A check someone asked for, of blocklists only, does not replace the daily one.
    domain_check_start(mailbox=never, scope=Scope.BLOCKLIST, trigger=DomainCheckRun.Trigger.PERSON)

    assert list(selectors.mailboxes_due_for_check(now=now)) == [never, stale]  # never checked first


def test_it_audits_a_check_someone_asks_for(rep, make_mailbox, django_capture_on_commit_callbacks):
    mailbox = make_mailbox(rep, email="rita@good.test")

    with django_capture_on_commit_callbacks() as callbacks:
        check = domain_check_request(actor=rep, mailbox=mailbox, scope=Scope.DNS_AUTH)

    assert (check.trigger, check.requested_by, check.domain) == ("person", rep, "good.test")
    entry = AuditEntry.objects.get(action=AuditEntry.Action.CHECK_DOMAIN)
    assert entry.detail == {"scope": "check_dns_auth", "domain": "good.test"}
    assert len(callbacks) == 1  # the task, queued once the run is committed


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_it_has_a_worker_check_each_mailbox_not_checked_today(
    workers, dns_sandbox, rep, make_mailbox
):
    good = make_mailbox(rep, email="rita@good.test")
    good.provider, good.smtp_host = Mailbox.Provider.GMAIL, "smtp.good.test"
    good.save()
    listed = make_mailbox(rep, email="lee@listed.test")
    listed.smtp_host = "mail.listed.test"
    listed.save()
    workers.start("dns", DNS_NAMESERVERS=dns_sandbox.nameserver, DNS_TIMEOUT="1")

    check_stale_domains.delay()

    wait_for(
        lambda: DomainCheckRun.objects.filter(finished_at__isnull=False).count() == 2,
        what="both mailboxes checked",
    )
    assert set(DomainCheckRun.objects.values_list("scope", "trigger")) == {("all", "schedule")}
    good_verdicts = set(good.domain_results.values_list("verdict", flat=True))
    assert good_verdicts == {Verdict.PASS}
    listings = listed.domain_results.filter(kind=Check.BLOCKLIST, verdict=Verdict.FAIL)
    assert {result.subject for result in listings} >= {
        "203.0.113.66 on zen.spamhaus.org",
        "listed.test on dbl.spamhaus.org",
    }
    assert all(result.newly_failing for result in listings)
    assert "spam" in listings.get(subject="listed.test on dbl.spamhaus.org").explanation.lower()
    # Checked today: the next scan starts nothing.
    assert not selectors.mailboxes_due_for_check(now=timezone.now()).exists()


def test_it_follows_the_check_already_running_on_a_second_click(
    rep, make_mailbox, django_capture_on_commit_callbacks
):
    mailbox = make_mailbox(rep, email="rita@good.test")

    with django_capture_on_commit_callbacks() as callbacks:
        first = domain_check_request(actor=rep, mailbox=mailbox, scope=Scope.DNS_AUTH)
        again = domain_check_request(actor=rep, mailbox=mailbox, scope=Scope.DNS_AUTH)
        other = domain_check_request(actor=rep, mailbox=mailbox, scope=Scope.BLOCKLIST)

    assert again == first
    assert other != first
    assert len(callbacks) == 2
    # Once a run is presumed dead, asking again starts a new one.
    DomainCheckRun.objects.filter(pk=first.pk).update(
        started_at=timezone.now() - dt.timedelta(minutes=10)
    )
    assert domain_check_request(actor=rep, mailbox=mailbox, scope=Scope.DNS_AUTH) != first


def test_it_lists_the_latest_run_first_with_its_counts(settings, changing):
    with serving(settings, CHANGING + SPF):
        older = run(changing)
    with serving(settings, CHANGING):
        newer = run(changing, Scope.ALL)

    history = list(selectors.mailbox_domain_check_runs(mailbox=changing))

    assert history == [newer, older]
    assert (history[0].fail, history[1].fail) == (1, 0)
    assert getattr(history[1], Verdict.PASS) == 3


def spf(verdict: str) -> CheckResult:
    return CheckResult(Check.SPF, "changing.test", verdict, f"SPF: {verdict}.")


def record(mailbox: Mailbox, verdict: str, looked_up_at: dt.datetime) -> DomainCheckResult:
    check = domain_check_start(mailbox=mailbox, scope=Scope.DNS_AUTH, trigger="person")
    domain_check_record(check, [spf(verdict)], looked_up_at)
    return check.results.get()


def test_it_keeps_a_later_lookup_current_over_a_slow_run_recorded_last(changing):
    now = timezone.now()
    fixed = record(changing, Verdict.PASS, looked_up_at=now)
    slow = record(changing, Verdict.FAIL, looked_up_at=now - dt.timedelta(seconds=30))

    fixed.refresh_from_db()
    assert (fixed.current, slow.current) == (True, False)
    (listed,) = selectors.mailboxes_with_failing_checks(
        mailboxes=Mailbox.objects.filter(pk=changing.pk)
    )
    assert listed.failing == []  # the older failure is history, not what fails now


def test_it_does_not_mark_a_failure_new_across_a_timeout(changing):
    now = timezone.now()
    record(changing, Verdict.FAIL, looked_up_at=now - dt.timedelta(days=2))
    record(changing, Verdict.UNCHECKED, looked_up_at=now - dt.timedelta(days=1))

    again = record(changing, Verdict.FAIL, looked_up_at=now)

    assert (again.current, again.newly_failing) == (True, False)


def test_it_starts_the_longest_unchecked_first_and_a_batch_at_most(
    settings, rep, make_mailbox, django_capture_on_commit_callbacks
):
    settings.DOMAIN_CHECK_BATCH_SIZE = 2
    now = timezone.now()
    older, old, never = (make_mailbox(rep, email=f"{n}@example.test") for n in "abc")
    for mailbox, age in ((older, 3), (old, 2)):
        domain_check_start(
            mailbox=mailbox,
            scope=Scope.ALL,
            trigger=DomainCheckRun.Trigger.SCHEDULE,
            now=now - dt.timedelta(days=age),
        )

    with django_capture_on_commit_callbacks() as callbacks:
        started = check_stale_domains()

    assert (started, len(callbacks)) == (2, 2)
    fresh = DomainCheckRun.objects.filter(started_at__gte=now)
    assert {check.mailbox for check in fresh} == {never, older}


def test_it_drops_the_run_of_a_deleted_mailbox(rep, make_mailbox):
    mailbox = make_mailbox(rep, email="rita@good.test")
    check = domain_check_start(mailbox=mailbox, scope=Scope.ALL, trigger="schedule")
    Mailbox.objects.filter(pk=mailbox.pk).delete()

    assert domain_check_run(run_id=check.pk) is None
