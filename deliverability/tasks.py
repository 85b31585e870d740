"""Celery tasks of the deliverability checks: thin, by id, safe to run twice."""

from __future__ import annotations

from celery import shared_task

from deliverability import services
from sequences.tasks import INFRASTRUCTURE_ERRORS


@shared_task(autoretry_for=INFRASTRUCTURE_ERRORS, retry_backoff=True, max_retries=3)
def check_mailbox_domain(run_id: int) -> None:
    services.domain_check_run(run_id=run_id)


@shared_task(autoretry_for=INFRASTRUCTURE_ERRORS, retry_backoff=True, max_retries=3)
def check_stale_domains() -> int:
    return services.domain_checks_start_due()
