"""The sending pipeline: claim due emails, send them per mailbox, record what happened.

Invariants (each tested):
- an email is claimed by one dispatcher only (`FOR UPDATE SKIP LOCKED`, then a status
  change in the same transaction), and an attempt row is committed before the SMTP
  conversation starts, so a crash mid-send is visible and never resent by itself;
- nothing talks to SMTP inside a transaction;
- every email ends sent, failed with a diagnosis, cancelled with a reason, or visibly
  waiting (scheduled, retrying, blocked).
"""

from __future__ import annotations

import datetime as dt
import functools
import random
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, F, OuterRef, Q, QuerySet, Subquery
from django.template import Context, Template
from django.utils import timezone

from diagnostics.diagnosis import Diagnosis, diagnose
from diagnostics.vocabulary import Category, Retry
from sequences.addresses import Recipient, invalid_address_refusal, recipient
from sequences.models import (
    Enrollment,
    Mailbox,
    ScheduledEmail,
    SendAttempt,
    Sequence,
    Step,
)
from sequences.services.contacts import contact_bounce
from sequences.services.emails import emails_cancel_followers, emails_release_waiting
from sequences.services.mailboxes import mailbox_hold, mailbox_pause
from sequences.services.pacing import DAY, MINUTE, mailbox_capacity
from sequences.services.sequences import sequence_check_bounce_rate
from sequences.services.smtp import (
    ConnectionFailed,
    DeliveryUncertain,
    MailboxSession,
    SmtpFailure,
)

Status = ScheduledEmail.Status
GIVE_UP_AFTER = dt.timedelta(hours=72)
BACKOFF_BASE_SECONDS = 60
BACKOFF_CAP_SECONDS = 6 * 3600
# Provider pauses where the diagnosis gives no delay of its own.
DEFAULT_PAUSE = {Category.RATE_LIMITED: 60, Category.QUOTA_EXCEEDED: 3600}
# After a failure to connect, greet, start TLS or sign in, the mailbox's other emails wait
# this long (one attempt per mailbox, not one per email, while its server is down).
CONNECTION_PAUSE = 60
# Attempts started (and successes recorded) together: at most this many are uncertain
# after a crash.
SEND_CHUNK = 20


@dataclass(frozen=True)
class Claim:
    mailbox_id: int
    email_ids: tuple[int, ...]
    # Identifies this claim: a send task delivered twice, or late, finds it superseded.
    claimed_at: dt.datetime


@dataclass
class BatchResult:
    by_status: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def add(self, other: BatchResult) -> None:
        for status, count in other.by_status.items():
            self.by_status[status] += count


def held_steps() -> list[int]:
    """Steps that may not send now: all of a paused sequence's, first steps of a guarded one.

    A short list, read once per claim, so the claim queries need no join.
    """
    return list(
        Step.objects.filter(
            Q(sequence__state=Sequence.State.PAUSED)
            | Q(position=1, sequence__first_steps_paused_at__isnull=False)
        ).values_list("id", flat=True)
    )


def due_emails(*, now: dt.datetime, held: list[int]) -> QuerySet[ScheduledEmail]:
    return ScheduledEmail.objects.filter(
        status__in=ScheduledEmail.DUE_STATUSES, next_attempt_at__lte=now
    ).exclude(step_id__in=held)


def emails_claim_due(
    *, now: dt.datetime | None = None, mailboxes: int = 50, per_mailbox: int = 100
) -> list[Claim]:
    """Claim due emails per mailbox, up to `per_mailbox` each and what its caps allow.

    The mailboxes whose emails have waited longest go first. Emails a mailbox cannot send
    now move to the time it can, so they leave the head of the queue and cannot starve
    other mailboxes.
    """
    now = now or timezone.now()
    held = held_steps()
    ready = Mailbox.objects.filter(state=Mailbox.State.CONNECTED).filter(
        Q(paused_until__isnull=True) | Q(paused_until__lte=now)
    )
    with transaction.atomic():
        # One index probe per mailbox, however many emails are due.
        oldest_due = (
            due_emails(now=now, held=held)
            .filter(mailbox_id=OuterRef("pk"))
            .order_by("next_attempt_at")
            .values("next_attempt_at")[:1]
        )
        waiting = list(
            ready.annotate(oldest=Subquery(oldest_due))
            .filter(oldest__isnull=False)
            .order_by("oldest")
            .values_list("pk", flat=True)[:mailboxes]
        )
        # Another dispatcher holding a mailbox decides for it: skip it this round.
        locked = ready.select_for_update(skip_locked=True).in_bulk(waiting)
        usage = _mailbox_usage(list(locked), now)
        claims = []
        for mailbox_id, mailbox in locked.items():
            capacity = mailbox_capacity(mailbox, now=now, **usage[mailbox_id])
            due = due_emails(now=now, held=held).filter(mailbox_id=mailbox_id)
            if not capacity.available:
                due.update(next_attempt_at=capacity.retry_at)
                continue
            taken = list(
                due.order_by("next_attempt_at", "id")
                .select_for_update(skip_locked=True)
                .values_list("id", flat=True)[: min(capacity.available, per_mailbox)]
            )
            if taken:
                ScheduledEmail.objects.filter(pk__in=taken).update(
                    status=Status.SENDING, claimed_at=now, next_attempt_at=None
                )
                claims.append(Claim(mailbox_id, tuple(taken), now))
    return claims


def _mailbox_usage(mailbox_ids: list[int], now: dt.datetime) -> dict[int, dict[str, int]]:
    usage = {
        pk: {"started_last_minute": 0, "started_last_day": 0, "in_flight": 0} for pk in mailbox_ids
    }
    started = (
        SendAttempt.objects.filter(mailbox_id__in=mailbox_ids, started_at__gt=now - DAY)
        .values("mailbox_id")
        .annotate(day=Count("id"), minute=Count("id", filter=Q(started_at__gt=now - MINUTE)))
    )
    for row in started:
        usage[row["mailbox_id"]]["started_last_day"] = row["day"]
        usage[row["mailbox_id"]]["started_last_minute"] = row["minute"]
    # Claimed and not yet started: they will start within this minute.
    in_flight = (
        ScheduledEmail.objects.filter(mailbox_id__in=mailbox_ids, status=Status.SENDING)
        .exclude(attempts__outcome=SendAttempt.Outcome.STARTED)
        .values("mailbox_id")
        .annotate(n=Count("id"))
    )
    for row in in_flight:
        usage[row["mailbox_id"]]["in_flight"] = row["n"]
    return usage


def emails_send_batch(
    *, mailbox_id: int, email_ids: list[int] | tuple[int, ...], claimed_at: dt.datetime
) -> BatchResult:
    """Send claimed emails of one mailbox over one SMTP session, recording each outcome.

    Attempts are started (committed) a chunk at a time before the SMTP conversation, and
    successes recorded a chunk at a time after it: a crash leaves at most one chunk
    uncertain. Safe to run twice with the same claim: an email is sent only while this
    claim holds it and no attempt of it is in progress.
    """
    result = BatchResult()
    mailbox = Mailbox.objects.get(pk=mailbox_id)
    with MailboxSession(mailbox) as session:
        for offset in range(0, len(email_ids), SEND_CHUNK):
            started = _attempts_start(email_ids[offset : offset + SEND_CHUNK], claimed_at)
            delivered = []
            for index, (email, attempt) in enumerate(started):
                try:
                    message, to = prepare_message(email, attempt.message_id)
                    session.send(message, to)
                except DeliveryUncertain as uncertain:
                    with transaction.atomic():
                        _mark_uncertain(email, why=uncertain.raw.removesuffix("."))
                    result.by_status[Status.BLOCKED] += 1
                except SmtpFailure as failure:
                    diagnosis = diagnose(failure.raw)
                    # The mailbox's problem (its connection, its sign-in, its rate): the
                    # other emails would only fail the same way, so they are not tried.
                    stops = _stops_mailbox(diagnosis) or isinstance(failure, ConnectionFailed)
                    if stops:
                        # Not sent, and we are alive to say so: no uncertainty to keep.
                        _attempts_abandon([a for _, a in started[index + 1 :]])
                    result.by_status[_record_failure(email, attempt, diagnosis)] += 1
                    if isinstance(failure, ConnectionFailed) and not _stops_mailbox(diagnosis):
                        mailbox_pause(
                            mailbox_id=mailbox_id,
                            until=timezone.now() + dt.timedelta(seconds=CONNECTION_PAUSE),
                        )
                    if stops:
                        _record_successes(delivered)
                        result.by_status[Status.SENT] += len(delivered)
                        _release(email_ids[offset:], mailbox_id=mailbox_id)
                        return result
                else:
                    delivered.append((email, attempt))
            _record_successes(delivered)
            result.by_status[Status.SENT] += len(delivered)
    return result


def _attempts_start(
    email_ids: list[int] | tuple[int, ...], claimed_at: dt.datetime
) -> list[tuple[ScheduledEmail, SendAttempt]]:
    """Commit attempt rows before talking to SMTP, for the emails this claim still holds."""
    now = timezone.now()
    with transaction.atomic():
        emails = list(
            ScheduledEmail.objects.select_for_update(of=("self",))
            .select_related("contact", "step", "mailbox")
            .filter(pk__in=email_ids, status=Status.SENDING, claimed_at=claimed_at)
            .order_by("id")
        )
        interrupted = set(
            SendAttempt.objects.filter(
                email__in=emails, outcome=SendAttempt.Outcome.STARTED
            ).values_list("email_id", flat=True)
        )
        started = []
        for email in emails:
            if email.pk in interrupted:
                # A previous run died mid-send: the server may have the message already.
                _mark_uncertain(email)
                continue
            email.attempt_count += 1
            attempt = SendAttempt(
                email=email,
                mailbox_id=email.mailbox_id,
                number=email.attempt_count,
                started_at=now,
                outcome=SendAttempt.Outcome.STARTED,
                message_id=make_msgid(domain=email.mailbox.domain or None),
            )
            started.append((email, attempt))
        SendAttempt.objects.bulk_create([attempt for _, attempt in started])
        ScheduledEmail.objects.filter(pk__in=[email.pk for email, _ in started]).update(
            attempt_count=F("attempt_count") + 1, updated_at=now
        )
    _attach_threads([email for email, _ in started])
    return started


def _attach_threads(emails: list[ScheduledEmail]) -> None:
    """Each follow-up's `thread`: the Message-IDs its enrollment sent before it, in order,
    so that the contact's mail client shows one conversation. One query per chunk."""
    sent: dict[int, list[tuple[int, str]]] = defaultdict(list)
    for enrollment_id, position, message_id in (
        ScheduledEmail.objects.filter(
            enrollment_id__in={e.enrollment_id for e in emails if e.step.position > 1},
            status=Status.SENT,
        )
        .order_by("step__position")
        .values_list("enrollment_id", "step__position", "message_id")
    ):
        sent[enrollment_id].append((position, message_id))
    for email in emails:
        email.thread = [
            message_id
            for position, message_id in sent.get(email.enrollment_id, [])
            if position < email.step.position
        ]


def _attempts_abandon(attempts: list[SendAttempt]) -> None:
    """Undo attempts that were started but never handed to the server."""
    with transaction.atomic():
        SendAttempt.objects.filter(pk__in=[a.pk for a in attempts]).delete()
        ScheduledEmail.objects.filter(pk__in=[a.email_id for a in attempts]).update(
            attempt_count=F("attempt_count") - 1
        )


def message_context(email: ScheduledEmail) -> Context:
    """The variables a step's subject and body may use, for plain text (no escaping)."""
    contact = email.contact
    return Context(
        {
            "first_name": contact.first_name,
            "last_name": contact.last_name,
            "full_name": contact.full_name,
            "company": contact.company,
            "job_title": contact.job_title,
            "email": contact.email,
            "sender_name": email.mailbox.display_name,
        },
        autoescape=False,
    )


@functools.lru_cache(maxsize=512)
def compiled(source: str) -> Template:
    """A step's subject or body, compiled once per process, not once per email."""
    return Template(source)


def render_subject(email: ScheduledEmail) -> str:
    return " ".join(compiled(email.step.subject).render(message_context(email)).split())


def _one_line(text: str) -> str:
    """A display name as one line: a newline in a name must not start a header."""
    return " ".join(text.split())


def render_message(email: ScheduledEmail, to: Recipient, message_id: str) -> EmailMessage:
    """The step's subject and body rendered for the contact, as plain text.

    Names and subject are encoded by the email package (a comma or a quote in a name stays
    in the name); the envelope recipient is given to SMTP apart, never read back from To.
    """
    contact, mailbox = email.contact, email.mailbox
    message = EmailMessage()
    message["From"] = Address(_one_line(mailbox.display_name), addr_spec=mailbox.email)
    # By its parts: parsing a non-ASCII local part as an addr_spec is a defect to the email
    # package, though SMTPUTF8 carries it (smtplib then writes the headers in UTF-8).
    local, _, domain = to.envelope.rpartition("@")
    message["To"] = Address(_one_line(contact.full_name), username=local, domain=domain)
    message["Subject"] = render_subject(email)
    message["Date"] = format_datetime(timezone.now())
    message["Message-ID"] = message_id
    thread = getattr(email, "thread", [])
    if thread:  # a follow-up answers the step before it (RFC 5322 3.6.4)
        message["In-Reply-To"] = thread[-1]
        message["References"] = " ".join(thread)
    message.set_content(compiled(email.step.body).render(message_context(email)))
    return message


def prepare_message(email: ScheduledEmail, message_id: str) -> tuple[EmailMessage, Recipient]:
    """The message and its one recipient, or SmtpFailure saying why nothing can be sent.

    Anything that goes wrong here is this email's problem (an address that is not one, a
    step template that cannot render, a name no header can hold): it is recorded on this
    email, and the batch goes on.
    """
    try:
        to = recipient(email.contact.email)
    except ValidationError as error:
        raise SmtpFailure(invalid_address_refusal(email.contact.email, error)) from error
    try:
        return render_message(email, to, message_id), to
    except Exception as error:  # a template, a header: recorded verbatim, never raised
        raise SmtpFailure(
            f"Not sent: the message could not be written: {type(error).__name__}: {error}"
        ) from error


def _record_successes(delivered: list[tuple[ScheduledEmail, SendAttempt]]) -> None:
    if not delivered:
        return
    now = timezone.now()
    with transaction.atomic():
        SendAttempt.objects.filter(pk__in=[a.pk for _, a in delivered]).update(
            outcome=SendAttempt.Outcome.SENT, finished_at=now
        )
        for email, attempt in delivered:
            email.status, email.sent_at, email.message_id = Status.SENT, now, attempt.message_id
            email.claimed_at = email.next_attempt_at = None
            email.status_reason, email.updated_at = "", now
        ScheduledEmail.objects.bulk_update(
            [email for email, _ in delivered],
            [
                "status",
                "sent_at",
                "message_id",
                "claimed_at",
                "next_attempt_at",
                "status_reason",
                "updated_at",
            ],
        )
        # Their follow-ups' turn: `wait_days` after this send.
        emails_release_waiting(
            emails=ScheduledEmail.objects.filter(
                enrollment_id__in={email.enrollment_id for email, _ in delivered},
                status=Status.WAITING,
            ),
            now=now,
        )
        # An enrollment whose last email went out is finished.
        Enrollment.objects.filter(
            pk__in={email.enrollment_id for email, _ in delivered}, state=Enrollment.State.ACTIVE
        ).exclude(emails__status__in=[*ScheduledEmail.PENDING_STATUSES, Status.BLOCKED]).update(
            state=Enrollment.State.FINISHED
        )


def _record_failure(email: ScheduledEmail, attempt: SendAttempt, diagnosis: Diagnosis) -> str:
    """Store the reply verbatim with its diagnosis and move the email to what it means."""
    now = timezone.now()
    with transaction.atomic():
        SendAttempt.objects.filter(pk=attempt.pk).update(
            outcome=SendAttempt.Outcome.FAILED,
            finished_at=now,
            raw_error=diagnosis.raw,
            error_code=diagnosis.code,
            category=diagnosis.category,
            retry=diagnosis.retry,
            smtp_code=diagnosis.smtp_code,
            enhanced_code=diagnosis.enhanced_code or "",
            http_status=diagnosis.http_status,
            provider=diagnosis.provider or "",
            request_id=diagnosis.request_id or "",
        )
        status, next_attempt_at, reason = _next_state(email, diagnosis, now)
        ScheduledEmail.objects.filter(pk=email.pk).update(
            status=status,
            next_attempt_at=next_attempt_at,
            status_reason=reason,
            claimed_at=None,
            last_error=diagnosis.raw,
            error_code=diagnosis.code,
            error_category=diagnosis.category,
            updated_at=now,
        )
        if diagnosis.category == Category.MAILBOX_CONNECTION:
            mailbox_hold(mailbox_id=email.mailbox_id, diagnosis=diagnosis, now=now)
        elif diagnosis.category in DEFAULT_PAUSE:
            pause = diagnosis.retry_after or DEFAULT_PAUSE[diagnosis.category]
            mailbox_pause(mailbox_id=email.mailbox_id, until=now + dt.timedelta(seconds=pause))
        if diagnosis.retry == Retry.NEVER:
            contact_bounce(contact_id=email.contact_id, diagnosis=diagnosis, email_id=email.pk)
            sequence_check_bounce_rate(sequence_id=email.sequence_id)
        elif status == Status.FAILED:  # given up after retrying: no later step follows it
            emails_cancel_followers(email=email, reason=f"Step {email.step.position}: {reason}")
    return status


def _next_state(
    email: ScheduledEmail, diagnosis: Diagnosis, now: dt.datetime
) -> tuple[str, dt.datetime | None, str]:
    if diagnosis.retry == Retry.NEVER:
        return Status.FAILED, None, diagnosis.title
    if diagnosis.retry == Retry.AFTER_FIX:
        return Status.BLOCKED, None, diagnosis.title
    first = email.attempts.order_by("number").values_list("started_at", flat=True).first()
    if first is not None and now - first >= GIVE_UP_AFTER:
        return Status.FAILED, None, f"Gave up after 72 hours of retries: {diagnosis.title}"
    # Exponential backoff with full jitter, never sooner than the provider asked.
    ceiling = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** (email.attempt_count - 1))
    floor = diagnosis.retry_after or DEFAULT_PAUSE.get(diagnosis.category, 0)
    delay = max(random.uniform(0, ceiling), floor)
    return Status.RETRYING, now + dt.timedelta(seconds=delay), diagnosis.title


def _stops_mailbox(diagnosis: Diagnosis) -> bool:
    """Whether the rest of the batch would only fail the same way."""
    return diagnosis.category in (Category.MAILBOX_CONNECTION, *DEFAULT_PAUSE)


def _release(email_ids: list[int], *, mailbox_id: int) -> None:
    """Give back claimed emails that were not attempted (a held mailbox blocked them already)."""
    paused_until = Mailbox.objects.values_list("paused_until", flat=True).get(pk=mailbox_id)
    _unclaim(
        ScheduledEmail.objects.filter(pk__in=email_ids, status=Status.SENDING),
        when=paused_until or timezone.now(),
    )


def _unclaim(claimed: QuerySet[ScheduledEmail], *, when: dt.datetime) -> None:
    claimed.filter(attempt_count=0).update(
        status=Status.SCHEDULED, claimed_at=None, next_attempt_at=when
    )
    claimed.filter(attempt_count__gt=0).update(
        status=Status.RETRYING, claimed_at=None, next_attempt_at=when
    )


def _mark_uncertain(email: ScheduledEmail, *, why: str = "") -> None:
    """A send that was handed over and never confirmed: the server may have the message.

    Resending could deliver it twice, so the email waits for a person, with the
    Message-ID to look for in the mailbox's Sent folder. `why` is what happened, when we
    saw it (a timeout after the final dot); without it, the worker stopped mid-send.
    """
    now = timezone.now()
    attempt = email.attempts.filter(outcome=SendAttempt.Outcome.STARTED).get()
    raw = (
        f"{why} (Message-ID {attempt.message_id}); check the mailbox's Sent folder before "
        "rescheduling."
        if why
        else "Delivery uncertain: sending stopped after the message was handed to the SMTP "
        f"server (Message-ID {attempt.message_id}). It may have been delivered; check the "
        "mailbox's Sent folder before rescheduling."
    )
    SendAttempt.objects.filter(pk=attempt.pk).update(
        outcome=SendAttempt.Outcome.UNCERTAIN, finished_at=now, raw_error=raw
    )
    ScheduledEmail.objects.filter(pk=email.pk).update(
        status=Status.BLOCKED,
        claimed_at=None,
        next_attempt_at=None,
        status_reason="Delivery uncertain",
        last_error=raw,
        error_code=ScheduledEmail.DELIVERY_UNCERTAIN,
        error_category=Category.UNKNOWN,
        updated_at=now,
    )


def emails_recover_stale(*, stale_after: dt.timedelta | None = None) -> int:
    """Claims older than the send time limit: give back the unstarted, flag the started."""
    now = timezone.now()
    if stale_after is None:
        stale_after = dt.timedelta(seconds=settings.SENDING_CLAIM_TIMEOUT)
    stale = ScheduledEmail.objects.filter(status=Status.SENDING, claimed_at__lte=now - stale_after)
    recovered = 0
    for email in stale.select_related("mailbox"):
        with transaction.atomic():
            locked = (
                ScheduledEmail.objects.select_for_update(skip_locked=True)
                .filter(pk=email.pk, status=Status.SENDING)
                .first()
            )
            if locked is None:
                continue
            if locked.attempts.filter(outcome=SendAttempt.Outcome.STARTED).exists():
                _mark_uncertain(locked)
            else:
                _unclaim(ScheduledEmail.objects.filter(pk=locked.pk), when=now)
            recovered += 1
    return recovered


@dataclass(frozen=True)
class Dispatched:
    recovered: int
    claimed: int


def emails_dispatch(
    *, handle: Callable[[Claim], None], for_seconds: float | None = None
) -> Dispatched:
    """Recover stale claims, then claim what is due and hand each claim to `handle`.

    Claims repeat while there is something to claim; with `for_seconds`, no new round
    starts after that long (a beat's dispatch must not overlap the next one). The worker's
    `handle` queues a send task; the `dispatch` command's sends in its own process.
    """
    recovered = emails_recover_stale()
    deadline = None if for_seconds is None else time.monotonic() + for_seconds
    claimed = 0
    while claims := emails_claim_due(per_mailbox=settings.SEND_BATCH_SIZE):
        for claim in claims:
            handle(claim)
            claimed += len(claim.email_ids)
        if deadline is not None and time.monotonic() > deadline:
            break
    return Dispatched(recovered=recovered, claimed=claimed)
