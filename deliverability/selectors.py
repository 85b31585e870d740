"""Reads of the deliverability checks: runs, their results, what fails now.

Access is decided by the caller (sequences.selectors scopes mailboxes to the user); these
take the mailboxes already allowed.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field

from django.conf import settings
from django.db.models import Count, Exists, F, Max, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce

from deliverability.checks import Check, Verdict
from deliverability.models import DomainCheckResult, DomainCheckRun
from sequences.models import Mailbox

# What to act on first, in a run's results.
SEVERITY = (Verdict.FAIL, Verdict.WARNING, Verdict.UNCHECKED)


def domain_check_running(*, mailbox: Mailbox, scope: str) -> DomainCheckRun | None:
    """The run of this check of the mailbox in progress, if any."""
    return (
        mailbox.domain_check_runs.in_progress().filter(scope=scope).order_by("-started_at").first()
    )


def domain_check_run_for_mailbox(*, mailbox: Mailbox, pk: int) -> DomainCheckRun | None:
    return mailbox.domain_check_runs.filter(pk=pk).first()


@dataclass(frozen=True)
class RunSummary:
    """A finished run's results: how many of each verdict, the problems worst first."""

    counts: Counter = field(default_factory=Counter)
    problems: list[DomainCheckResult] = field(default_factory=list)
    passed: list[DomainCheckResult] = field(default_factory=list)


def domain_check_run_summary(*, run: DomainCheckRun) -> RunSummary:
    results = list(run.results.all())
    return RunSummary(
        counts=Counter(result.verdict for result in results),
        problems=sorted(
            (result for result in results if result.verdict != Verdict.PASS),
            key=lambda result: SEVERITY.index(result.verdict),
        ),
        passed=[result for result in results if result.verdict == Verdict.PASS],
    )


def mailbox_domain_results(*, mailbox: Mailbox) -> list[DomainCheckResult]:
    """The latest result of each check of the mailbox's domain, in the checks' order."""
    order = {kind: n for n, kind in enumerate(Check.values)}
    results = mailbox.domain_results.filter(current=True).select_related("run")
    return sorted(results, key=lambda result: (order[result.kind], result.pk))


def mailbox_domain_check_runs(*, mailbox: Mailbox, limit: int = 20) -> QuerySet[DomainCheckRun]:
    """The latest runs of the checks, each with how many results had each verdict."""
    counts = {
        verdict: Count("results", filter=Q(results__verdict=verdict)) for verdict in Verdict.values
    }
    # Ordered here: a model's default ordering does not apply to a grouped query.
    runs = mailbox.domain_check_runs.select_related("requested_by").annotate(**counts)
    return runs.order_by("-started_at", "-pk")[:limit]


def _failing_checks(mailboxes: list[Mailbox]) -> QuerySet[DomainCheckResult]:
    """The checks of these mailboxes failing now, newly failing first."""
    return DomainCheckResult.objects.filter(
        mailbox__in=mailboxes, current=True, verdict=Verdict.FAIL
    ).order_by("-newly_failing", "pk")


def mailbox_failing_checks(*, mailbox: Mailbox) -> QuerySet[DomainCheckResult]:
    return _failing_checks([mailbox])


def mailboxes_with_failing_checks(*, mailboxes: QuerySet[Mailbox]) -> list[Mailbox]:
    """The mailboxes, each with `failing`: its checks failing now (newly failing first)."""
    mailboxes = list(mailboxes)
    failing: dict[int, list[DomainCheckResult]] = {}
    for result in _failing_checks(mailboxes):
        failing.setdefault(result.mailbox_id, []).append(result)
    for mailbox in mailboxes:
        mailbox.failing = failing.get(mailbox.pk, [])
    return mailboxes


def failing_checks_count(*, organization: OuterRef, newly: bool = False) -> Coalesce:
    """How many checks of an organization's mailboxes fail now, as an annotation.

    A correlated subquery on the current results only, not a join of every result ever
    recorded.
    """
    failing = DomainCheckResult.objects.filter(
        mailbox__organization=organization, current=True, verdict=Verdict.FAIL
    )
    if newly:
        failing = failing.filter(newly_failing=True)
    counted = failing.order_by().values("mailbox__organization").annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(counted), 0)


def mailboxes_due_for_check(*, now: dt.datetime) -> QuerySet[Mailbox]:
    """Mailboxes whose domain had no full check within DOMAIN_CHECK_EVERY_SECONDS.

    Never checked first, then the longest unchecked.
    """
    since = now - dt.timedelta(seconds=settings.DOMAIN_CHECK_EVERY_SECONDS)
    full = Q(domain_check_runs__scope=DomainCheckRun.Scope.ALL)
    recent = DomainCheckRun.objects.filter(
        mailbox=OuterRef("pk"), scope=DomainCheckRun.Scope.ALL, started_at__gte=since
    )
    return (
        Mailbox.objects.filter(~Exists(recent))
        .annotate(last_checked=Max("domain_check_runs__started_at", filter=full))
        .order_by(F("last_checked").asc(nulls_first=True), "pk")
    )
