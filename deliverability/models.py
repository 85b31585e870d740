"""Runs of the deliverability checks of a mailbox's domain, and what each check found."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from deliverability.checks import AUTH_CHECKS, Check, Verdict
from sequences.models import Mailbox, choices_check

# A run not finished after this long is shown as interrupted (its worker died).
RUN_TIMEOUT = dt.timedelta(minutes=5)


class DomainCheckScope(models.TextChoices):
    # Named after the contract's fix actions that ask for them.
    DNS_AUTH = "check_dns_auth", "DNS records (MX, SPF, DKIM, DMARC)"
    BLOCKLIST = "check_blacklist", "Blocklists"
    ALL = "all", "DNS records and blocklists"


class DomainCheckTrigger(models.TextChoices):
    SCHEDULE = "schedule", "Daily check"
    PERSON = "person", "Asked for"


class DomainCheckRunQuerySet(models.QuerySet):
    def in_progress(self, *, now: dt.datetime | None = None) -> DomainCheckRunQuerySet:
        """Runs a worker has yet to finish, and has not obviously died on."""
        return self.filter(finished_at=None, started_at__gt=(now or timezone.now()) - RUN_TIMEOUT)


class DomainCheckRun(models.Model):
    """One run of the deliverability checks of a mailbox's domain."""

    Scope = DomainCheckScope
    Trigger = DomainCheckTrigger

    mailbox = models.ForeignKey(Mailbox, on_delete=models.CASCADE, related_name="domain_check_runs")
    domain = models.CharField(max_length=255)
    scope = models.CharField(max_length=16, choices=Scope.choices)
    trigger = models.CharField(max_length=16, choices=Trigger.choices)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = DomainCheckRunQuerySet.as_manager()

    class Meta:
        ordering = ["-started_at", "-pk"]
        constraints = [
            choices_check("scope", DomainCheckScope, "domain_check_scope_valid"),
            choices_check("trigger", DomainCheckTrigger, "domain_check_trigger_valid"),
        ]
        indexes = [
            models.Index(fields=["mailbox", "-started_at"], name="domain_check_by_mailbox"),
        ]

    def __str__(self) -> str:
        return f"{self.get_scope_display()} of {self.domain}"

    @property
    def in_progress(self) -> bool:
        """The rule of DomainCheckRunQuerySet.in_progress, for a run already loaded."""
        return self.finished_at is None and timezone.now() - self.started_at < RUN_TIMEOUT

    @property
    def checks(self) -> tuple[str, ...]:
        """The checks this run covers."""
        return {
            DomainCheckScope.DNS_AUTH: AUTH_CHECKS,
            DomainCheckScope.BLOCKLIST: (Check.BLOCKLIST,),
        }.get(self.scope, tuple(Check.values))


class DomainCheckResult(models.Model):
    """What one check found. `current` marks the latest results of each kind for a mailbox."""

    Check = Check
    Verdict = Verdict

    run = models.ForeignKey(DomainCheckRun, on_delete=models.CASCADE, related_name="results")
    mailbox = models.ForeignKey(Mailbox, on_delete=models.CASCADE, related_name="domain_results")
    kind = models.CharField(max_length=16, choices=Check.choices)
    subject = models.CharField(max_length=255)
    verdict = models.CharField(max_length=16, choices=Verdict.choices)
    explanation = models.TextField()
    action = models.TextField(blank=True)
    record = models.TextField(blank=True)
    # The records found, as served: untrusted text.
    found = models.TextField(blank=True)
    # Failing now, and not in the previous check of the same subject (or never checked).
    newly_failing = models.BooleanField(default=False)
    current = models.BooleanField(default=True)
    checked_at = models.DateTimeField()

    class Meta:
        ordering = ["pk"]
        constraints = [
            choices_check("kind", Check, "domain_result_kind_valid"),
            choices_check("verdict", Verdict, "domain_result_verdict_valid"),
        ]
        indexes = [
            models.Index(
                fields=["mailbox", "kind"],
                condition=Q(current=True),
                name="domain_result_current",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.subject}: {self.get_verdict_display()}"
