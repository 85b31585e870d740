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
import logging
import math
import random
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from email import policy
from email.headerregistry import Address, BaseHeader, HeaderRegistry, UnstructuredHeader
from email.message import EmailMessage
from email.policy import Policy
from email.utils import make_msgid
from typing import NamedTuple

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import DatabaseError, InterfaceError, OperationalError, transaction
from django.db.models import Count, F, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce, Greatest
from django.template import Context, VariableDoesNotExist
from django.utils import timezone

from diagnostics.diagnosis import Diagnosis, diagnose
from diagnostics.vocabulary import Category, Retry
from sequences import selectors
from sequences.addresses import Recipient, invalid_address_refusal, recipient
from sequences.models import (
    Enrollment,
    Mailbox,
    ScheduledEmail,
    SendAttempt,
    Sequence,
    Step,
)
from sequences.services import ledger
from sequences.services.contacts import contact_bounce
from sequences.services.emails import (
    emails_cancel_followers,
    emails_release_waiting,
    enrollments_finish,
)
from sequences.services.mailboxes import (
    mailbox_connected,
    mailbox_connection_failed,
    mailbox_hold,
    mailbox_pause,
)
from sequences.services.pacing import DAY, MINUTE, mailbox_capacity
from sequences.services.sequences import sequence_check_bounce_rate
from sequences.services.smtp import (
    ConnectionFailed,
    Deadline,
    DeliveryUncertain,
    MailboxSession,
    SmtpFailure,
)
from sequences.templating import VARIABLES, compiled, required_variables
from sequences.unsubscribe import unsubscribe_headers

logger = logging.getLogger(__name__)
Status = ScheduledEmail.Status
GIVE_UP_AFTER = dt.timedelta(hours=72)
BACKOFF_BASE_SECONDS = 60
BACKOFF_CAP_SECONDS = 6 * 3600
# Provider pauses where the diagnosis gives no delay of its own.
DEFAULT_PAUSE = {Category.RATE_LIMITED: 60, Category.QUOTA_EXCEEDED: 3600}
# Sends whose follow-ups are released together (a crash leaves them to the recovery).
SETTLE_EVERY = 50
UNCERTAIN_STOPPED = (
    "Delivery uncertain: the worker was stopped after the message was handed to the SMTP "
    "server, before it confirmed"
)


@dataclass(frozen=True)
class Claim:
    mailbox_id: int
    email_ids: tuple[int, ...]
    # Identifies this claim: a send task delivered twice, or late, finds it superseded.
    claimed_at: dt.datetime


class _Started(NamedTuple):
    """An attempt as the ledger started it."""

    pk: int
    message_id: str


@dataclass
class BatchResult:
    by_status: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def add(self, other: BatchResult) -> None:
        for status, count in other.by_status.items():
            self.by_status[status] += count


def held_steps() -> list[int]:
    """Steps that may not send now: all of a paused (or archived) sequence's, first steps of
    a guarded one.

    A short list, read once per claim, so the claim queries need no join.
    """
    return list(
        Step.objects.filter(
            Q(sequence__state__in=[Sequence.State.PAUSED, Sequence.State.ARCHIVED])
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

    Each email's attempt is committed just before its SMTP conversation, and the server's
    acceptance right after it (sequences.services.ledger): a worker killed at any moment
    leaves at most the email it was sending uncertain. The batch ends by its deadline
    (SEND_BATCH_DEADLINE) whatever the worker's pool enforces, and gives back what it did
    not start. Safe to run twice with the same claim: an email is sent only while this
    claim holds it and no attempt of it is in progress.
    """
    run = _Run(Mailbox.objects.get(pk=mailbox_id), claimed_at)
    run.renew()
    try:
        with MailboxSession(run.mailbox, deadline=run.deadline, waiting=run.renew) as session:
            for email in run.claimed(email_ids):
                if run.deadline.reached() or not run.send(session, email):
                    break
    finally:
        run.finish(email_ids)
    return run.result


class _Run:
    """One batch as it goes: what the server accepted and is not yet recorded, and the
    recorded sends whose follow-ups are still to release."""

    def __init__(self, mailbox: Mailbox, claimed_at: dt.datetime) -> None:
        self.mailbox, self.claimed_at = mailbox, claimed_at
        self.deadline = Deadline(settings.SEND_BATCH_DEADLINE)
        self.result = BatchResult()
        self.accepted: tuple[ScheduledEmail, _Started] | None = None
        self.delivered: list[ScheduledEmail] = []
        self._renewed = -math.inf

    def renew(self) -> None:
        """Keep the mailbox's lease (SENDING_LEASE_SECONDS) ahead while this batch lives:
        written when a quarter of it has gone by, so at most every few seconds."""
        lease = settings.SENDING_LEASE_SECONDS
        if time.monotonic() - self._renewed < lease / 4:
            return
        until = timezone.now() + dt.timedelta(seconds=lease)
        try:
            Mailbox.objects.filter(pk=self.mailbox.pk).update(
                sending_lease_until=Greatest(Coalesce("sending_lease_until", Value(until)), until)
            )
        except DatabaseError:  # the next write says it; a lease let pass is recovered
            logger.warning("could not renew the sending lease of mailbox %s", self.mailbox.pk)
            return
        self._renewed = time.monotonic()

    def claimed(self, email_ids: list[int] | tuple[int, ...]) -> list[ScheduledEmail]:
        """The emails this claim still holds. One whose attempt is in progress is left to
        the stale-claim recovery: its worker may still be talking to the server."""
        emails = list(
            ScheduledEmail.objects.select_related("contact", "step", "mailbox")
            .filter(pk__in=email_ids, status=Status.SENDING, claimed_at=self.claimed_at)
            .exclude(attempts__outcome=SendAttempt.Outcome.STARTED)
            .order_by("id")
        )
        _attach_threads(emails)
        return emails

    def send(self, session: MailboxSession, email: ScheduledEmail) -> bool:
        """Send one email and record what happened; False when the rest would only fail
        the same way (the mailbox's connection, its sign-in, its rate)."""
        attempt = self._begin(email)
        if attempt is None:  # another run of this claim took it
            return True
        try:
            message, to = prepare_message(email, attempt.message_id)
            session.send(message, to)
        except DeliveryUncertain as uncertain:
            with transaction.atomic():
                _mark_uncertain(email, why=uncertain.raw.removesuffix("."))
            self.result.by_status[Status.BLOCKED] += 1
        except SmtpFailure as failure:
            return self._failed(email, attempt, failure)
        except BaseException as stopped:  # a time limit or a shutdown, mid-conversation
            if session.handed_over:
                with transaction.atomic():
                    _mark_uncertain(email, why=f"{UNCERTAIN_STOPPED} ({type(stopped).__name__})")
            else:
                _attempt_abandon(email, attempt)
            raise
        else:
            email.subject = message["Subject"]
            self.accepted = (email, attempt)
        return True

    def _begin(self, email: ScheduledEmail) -> _Started | None:
        """Start this email's attempt, in one transaction with the previous acceptance."""
        now = timezone.now()
        message_id = make_msgid(domain=self.mailbox.domain or None)
        start = functools.partial(
            ledger.attempt_start, email, claimed_at=self.claimed_at, message_id=message_id, now=now
        )
        accepted = self._acceptance()
        try:
            attempt_id = start(accepted=accepted)
        except (OperationalError, InterfaceError):
            if accepted is None:
                raise
            # The acceptance alone, retried; then this attempt, as it would have started.
            self._record_accepted(now)
            attempt_id = start()
        else:
            self._accepted_recorded(now)
        return None if attempt_id is None else _Started(attempt_id, message_id)

    def _acceptance(self) -> ledger.Acceptance | None:
        if self.accepted is None:
            return None
        email, attempt = self.accepted
        return ledger.Acceptance(email.pk, attempt.pk, attempt.message_id, email.subject)

    def _record_accepted(self, now: dt.datetime) -> None:
        """Record the acceptance not yet recorded, on its own."""
        accepted = self._acceptance()
        if accepted is None:
            return
        # The server has it: a database away for a moment must not make it uncertain.
        ledger.retrying(
            lambda: ledger.email_sent(accepted, now=now),
            for_seconds=settings.SEND_RECORD_RETRY_SECONDS,
        )
        self._accepted_recorded(now)

    def _accepted_recorded(self, now: dt.datetime) -> None:
        if self.accepted is None:
            return
        email, _ = self.accepted
        self.accepted = None
        email.status, email.sent_at = Status.SENT, now
        if not self.delivered and self.mailbox.connection_failures:
            mailbox_connected(mailbox_id=self.mailbox.pk)
        self.delivered.append(email)
        self.result.by_status[Status.SENT] += 1
        if len(self.delivered) >= SETTLE_EVERY:
            with transaction.atomic():
                emails_settle(self.delivered, now=now)
            self.delivered = []

    def _failed(self, email: ScheduledEmail, attempt: _Started, failure: SmtpFailure) -> bool:
        diagnosis = diagnose(failure.raw)
        self.result.by_status[_record_failure(email, attempt, diagnosis)] += 1
        if isinstance(failure, ConnectionFailed) and diagnosis.retry == Retry.AUTO:
            # Down or silent for now: the mailbox waits, and is held if it goes on.
            mailbox_connection_failed(
                mailbox_id=self.mailbox.pk, diagnosis=diagnosis, now=timezone.now()
            )
            return False
        return not (isinstance(failure, ConnectionFailed) or _stops_mailbox(diagnosis))

    def finish(self, email_ids: list[int] | tuple[int, ...]) -> None:
        """Record the last acceptance, release follow-ups, and give back what was not
        started (also when the batch is cut short by an exception)."""
        now = timezone.now()
        with transaction.atomic():
            self._record_accepted(now)
            emails_settle(self.delivered, now=now)
            self.delivered = []
            _release(email_ids, mailbox_id=self.mailbox.pk, claimed_at=self.claimed_at)


def emails_settle(emails: list[ScheduledEmail], *, now: dt.datetime) -> None:
    """What sends change beyond their own emails: each follow-up's turn comes `wait_days`
    after its step was sent, and an enrollment whose last email went out is finished.

    Then the claim is dropped: a sent email still claimed is one a crash left unsettled,
    and the stale-claim recovery settles it.
    """
    if not emails:
        return
    enrollments = {email.enrollment_id for email in emails}
    emails_release_waiting(
        emails=ScheduledEmail.objects.filter(enrollment_id__in=enrollments, status=Status.WAITING),
        now=now,
    )
    enrollments_finish(Enrollment.objects.filter(pk__in=enrollments))
    ScheduledEmail.objects.filter(pk__in=[email.pk for email in emails]).update(claimed_at=None)


def _attach_threads(emails: list[ScheduledEmail]) -> None:
    """Each follow-up's `thread`: the Message-IDs its enrollment sent before it, in order,
    and `first_subject`, the subject its first sent email had, so that the contact's mail
    client shows one conversation. One query for the batch."""
    sent: dict[int, list[tuple[int, str, str]]] = defaultdict(list)
    for enrollment_id, position, message_id, subject in (
        ScheduledEmail.objects.filter(
            enrollment_id__in={e.enrollment_id for e in emails if e.step.position > 1},
            status=Status.SENT,
        )
        .order_by("step__position")
        .values_list("enrollment_id", "step__position", "message_id", "subject")
    ):
        sent[enrollment_id].append((position, message_id, subject))
    for email in emails:
        earlier = [row for row in sent.get(email.enrollment_id, []) if row[0] < email.step.position]
        email.thread = [message_id for _, message_id, _ in earlier]
        email.first_subject = earlier[0][2] if earlier else ""


def _attempt_abandon(email: ScheduledEmail, attempt: _Started) -> None:
    """Undo an attempt that was started but never handed to the server."""
    with transaction.atomic():
        SendAttempt.objects.filter(pk=attempt.pk).delete()
        ScheduledEmail.objects.filter(pk=email.pk).update(attempt_count=F("attempt_count") - 1)


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


def missing_variable_refusal(email: ScheduledEmail, context: Context) -> str | None:
    """Why the step cannot be written for this contact (a variable it prints is empty or
    unknown), or None. Sent as it is, the contact would read "Hi , about "."""
    for part, source in (("subject", email.step.subject), ("body", email.step.body)):
        for name, variable in required_variables(source):
            try:
                value = variable.resolve(context)
            except VariableDoesNotExist:
                known = ", ".join(VARIABLES)
                return (
                    f"Not sent: the step's {part} uses {{{{ {name} }}}}, which is not a "
                    f"variable a step can use (they are: {known})."
                )
            if value in ("", None):
                return (
                    f"Not sent: the step's {part} uses {{{{ {name} }}}}, and the contact "
                    f"{email.contact} has none. Fill it in on the contact, or give it a "
                    f'fallback in the step: {{{{ {name}|default:"…" }}}}.'
                )
    return None


def render_subject(email: ScheduledEmail) -> str:
    """The step's subject for the contact; a follow-up whose subject is a reply ("Re: …",
    or empty) answers with the subject its first email was sent with, so that the contact's
    mail client keeps one conversation even if the contact's details changed since."""
    own = " ".join(compiled(email.step.subject).render(message_context(email)).split())
    first = getattr(email, "first_subject", "")
    if first and (not own or own[:3].lower() == "re:"):
        return first if first[:3].lower() == "re:" else f"Re: {first}"
    return own


def _one_line(text: str) -> str:
    """A display name as one line: a newline in a name must not start a header."""
    return " ".join(text.split())


class _Header(BaseHeader):
    """A header written the same way in every message that carries it: folded once per
    policy (headers are immutable; the wire's policies are made once, smtp.wire_policy)."""

    def fold(self, *, policy: Policy) -> str:
        folded = self.__dict__.setdefault("_folded", {})
        if policy not in folded:
            folded[policy] = super().fold(policy=policy)
        return folded[policy]


class _UriListHeader(UnstructuredHeader):
    """A list of <URI>s (RFC 2369's List-* headers), one per line and never encoded: the
    email package would write a URI longer than a line as RFC 2047 words, which no mail
    client reads as a link."""

    @classmethod
    def parse(cls, value: str, kwds: dict[str, object]) -> None:
        # Our own ASCII value, written by fold() below: the email package's parse of it
        # (a new one per message) would cost more than the rest of the headers.
        kwds["parse_tree"], kwds["decoded"] = None, value

    def fold(self, *, policy: Policy) -> str:
        return f"{self.name}: " + f",{policy.linesep} ".join(str(self).split(", ")) + policy.linesep


class _HeaderClasses(HeaderRegistry):
    """The email package's header registry, making each header class once, and each header
    given as text once while it recurs (MIME-Version, Content-Type, a mailbox's From…): the
    standard one builds a new class for every header it parses, and each header parses and
    folds its value anew, most of the CPU a message takes to write (profiled in
    bench/bench_sending.py)."""

    def __init__(self) -> None:
        super().__init__(base_class=_Header)
        self.map_to_type("list-unsubscribe", _UriListHeader)
        self._made: dict[str, type[BaseHeader]] = {}
        self.parsed = functools.lru_cache(maxsize=256)(super().__call__)

    def __getitem__(self, name: str) -> type[BaseHeader]:
        key = name.lower()
        made = self._made.get(key)
        if made is None:
            made = self._made[key] = super().__getitem__(name)
        return made

    def __call__(self, name: str, value: object) -> BaseHeader:
        return self.parsed(name, value) if isinstance(value, str) else super().__call__(name, value)


# The email package's default policy (RFC 5322 headers, encoded by the package), faster.
MESSAGE_POLICY = policy.default.clone(header_factory=_HeaderClasses())


@functools.lru_cache(maxsize=256)
def _from_header(display_name: str, address: str) -> BaseHeader:
    """A mailbox's From, made once while it sends."""
    return MESSAGE_POLICY.header_factory(
        "From", Address(_one_line(display_name), addr_spec=address)
    )


def render_message(email: ScheduledEmail, to: Recipient, message_id: str) -> EmailMessage:
    """The step's subject and body rendered for the contact, as plain text.

    Names and subject are encoded by the email package (a comma or a quote in a name stays
    in the name); the envelope recipient is given to SMTP apart, never read back from To.
    """
    contact, mailbox = email.contact, email.mailbox
    message = EmailMessage(policy=MESSAGE_POLICY)
    message["From"] = _from_header(mailbox.display_name, mailbox.email)
    # By its parts: parsing a non-ASCII local part as an addr_spec is a defect to the email
    # package, though SMTPUTF8 carries it (the session then writes the headers in UTF-8).
    local, _, domain = to.envelope.rpartition("@")
    message["To"] = Address(_one_line(contact.full_name), username=local, domain=domain)
    message["Subject"] = render_subject(email)
    message["Date"] = timezone.now()
    message["Message-ID"] = message_id
    thread = getattr(email, "thread", [])
    if thread:  # a follow-up answers the step before it (RFC 5322 3.6.4)
        message["In-Reply-To"] = thread[-1]
        message["References"] = " ".join(thread)
    for name, value in unsubscribe_headers(email).items():
        message[name] = value
    message.set_content(compiled(email.step.body).render(message_context(email)))
    return message


def prepare_message(email: ScheduledEmail, message_id: str) -> tuple[EmailMessage, Recipient]:
    """The message and its one recipient, or SmtpFailure saying why nothing can be sent.

    Anything that goes wrong here is this email's problem (an address that is not one, a
    step template that cannot render or prints a variable this contact has no value for,
    a name no header can hold): it is recorded on this email, and the batch goes on.
    """
    try:
        to = recipient(email.contact.email)
    except ValidationError as error:
        raise SmtpFailure(invalid_address_refusal(email.contact.email, error)) from error
    try:
        missing = missing_variable_refusal(email, message_context(email))
        if missing:
            raise SmtpFailure(missing)
        return render_message(email, to, message_id), to
    except SmtpFailure:
        raise
    except Exception as error:  # a template, a header: recorded verbatim, never raised
        raise SmtpFailure(
            f"Not sent: the message could not be written: {type(error).__name__}: {error}"
        ) from error


def _record_failure(email: ScheduledEmail, attempt: _Started, diagnosis: Diagnosis) -> str:
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
        _email_refused(email, diagnosis, status, next_attempt_at, reason, now)
    return status


def email_bounced(*, email: ScheduledEmail, diagnosis: Diagnosis, reason: str) -> None:
    """A sent email came back (a bounce read from the mailbox, inbox.py): the same rules as
    the same refusal at send time, the email `bounced` with `reason`. Call in a
    transaction."""
    _email_refused(email, diagnosis, Status.BOUNCED, None, reason, timezone.now())


def _email_refused(
    email: ScheduledEmail,
    diagnosis: Diagnosis,
    status: str,
    next_attempt_at: dt.datetime | None,
    reason: str,
    now: dt.datetime,
) -> None:
    """Move a refused email to `status`, with what the refusal means for its mailbox (held
    or paused), its contact (a hard bounce) and its follow-ups."""
    ScheduledEmail.objects.filter(pk=email.pk).update(
        status=status,
        next_attempt_at=next_attempt_at,
        status_reason=reason[:500],
        claimed_at=None,
        last_error=diagnosis.raw,
        error_code=diagnosis.code,
        error_category=diagnosis.category,
        updated_at=now,
    )
    if diagnosis.category in Mailbox.HOLDING_CATEGORIES:
        mailbox_hold(mailbox_id=email.mailbox_id, diagnosis=diagnosis, now=now)
    elif diagnosis.category in DEFAULT_PAUSE:
        pause = diagnosis.retry_after or DEFAULT_PAUSE[diagnosis.category]
        mailbox_pause(mailbox_id=email.mailbox_id, until=now + dt.timedelta(seconds=pause))
    if diagnosis.retry == Retry.NEVER:
        contact_bounce(contact_id=email.contact_id, diagnosis=diagnosis, email_id=email.pk)
        sequence_check_bounce_rate(sequence_id=email.sequence_id)
    elif status == Status.FAILED:  # given up after retrying: no later step follows it
        emails_cancel_followers(email=email, reason=f"Step {email.step.position}: {reason}")


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
    return diagnosis.category in (*Mailbox.HOLDING_CATEGORIES, *DEFAULT_PAUSE)


def _release(
    email_ids: list[int] | tuple[int, ...], *, mailbox_id: int, claimed_at: dt.datetime
) -> None:
    """Give back what this claim holds and did not start (a held mailbox blocked them
    already), at the time the mailbox may send again."""
    paused_until = Mailbox.objects.values_list("paused_until", flat=True).get(pk=mailbox_id)
    _unclaim(
        ScheduledEmail.objects.filter(
            pk__in=email_ids, status=Status.SENDING, claimed_at=claimed_at
        ).exclude(attempts__outcome=SendAttempt.Outcome.STARTED),
        when=max(paused_until or timezone.now(), timezone.now()),
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
        # What to look for in the Sent folder (and what a bounce will quote).
        message_id=attempt.message_id,
        status_reason="Delivery uncertain",
        last_error=raw,
        error_code=ScheduledEmail.DELIVERY_UNCERTAIN,
        error_category=Category.UNKNOWN,
        updated_at=now,
    )


def email_delivery_confirmed(*, email: ScheduledEmail, folder: str) -> bool:
    """An uncertain send found in the mailbox's Sent folder (`folder`): it was sent, at the
    time its attempt handed it over; its follow-ups are released. False if it is no longer
    uncertain."""
    with transaction.atomic():
        attempt = (
            email.attempts.select_for_update()
            .filter(outcome=SendAttempt.Outcome.UNCERTAIN, message_id=email.message_id)
            .first()
        )
        updated = ScheduledEmail.objects.filter(
            pk=email.pk, status=Status.BLOCKED, error_code=ScheduledEmail.DELIVERY_UNCERTAIN
        ).update(
            status=Status.SENT,
            sent_at=attempt.started_at if attempt else timezone.now(),
            status_reason=f"Delivery confirmed: found in the {folder} folder",
            last_error="",
            error_code="",
            error_category="",
            updated_at=timezone.now(),
        )
        if not updated:
            return False
        if attempt is not None:
            SendAttempt.objects.filter(pk=attempt.pk).update(outcome=SendAttempt.Outcome.SENT)
        email.refresh_from_db()
        emails_settle([email], now=timezone.now())
    return True


def emails_recover_stale(*, stale_after: dt.timedelta | None = None) -> int:
    """Claims no worker holds (`orphaned_claims`): give back the unstarted, flag the
    started, settle the sent."""
    now = timezone.now()
    orphaned = selectors.orphaned_claims(now=now, stale_after=stale_after)
    # Sent by a worker that died before releasing their follow-ups (or, with the attempt
    # still started, by a version that committed an acceptance's two writes apart).
    unsettled = list(
        ScheduledEmail.objects.filter(orphaned, status=Status.SENT, claimed_at__isnull=False)
    )
    SendAttempt.objects.filter(email__in=unsettled, outcome=SendAttempt.Outcome.STARTED).update(
        outcome=SendAttempt.Outcome.SENT, finished_at=now
    )
    emails_settle(unsettled, now=now)
    stale = ScheduledEmail.objects.filter(orphaned, status=Status.SENDING)
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
