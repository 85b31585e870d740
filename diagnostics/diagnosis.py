"""PLACEHOLDER: the classifier is being written (issue 3). Interface is fixed."""

from __future__ import annotations

from dataclasses import dataclass

from diagnostics.vocabulary import Category, Fix, Retry, Side


@dataclass(frozen=True, slots=True)
class Diagnosis:
    raw: str
    code: str
    category: Category
    retry: Retry
    retry_after: int | None
    fixes: tuple[Fix, ...]
    title: str
    explanation: str
    next_steps: tuple[str, ...]
    side: Side
    smtp_code: int | None
    enhanced_code: str | None
    http_status: int | None
    provider: str | None
    request_id: str | None


def diagnose(raw: str) -> Diagnosis:
    return Diagnosis(
        raw=raw,
        code="unknown",
        category=Category.UNKNOWN,
        retry=Retry.AFTER_FIX,
        retry_after=None,
        fixes=(Fix.CONTACT_SUPPORT,),
        title="Unknown error",
        explanation="",
        next_steps=(),
        side=Side.PROVIDER,
        smtp_code=None,
        enhanced_code=None,
        http_status=None,
        provider=None,
        request_id=None,
    )
