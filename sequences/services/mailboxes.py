"""Mailboxes: every change of a mailbox's state, and what it holds back or puts back.

A mailbox is connected, broken (its sign-in refused: `invalid_credentials`; another
connection failure: `sync_error`), or paused until a time a provider gave (rate limits,
quotas). Only the functions here set those.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import F, QuerySet, Value
from django.db.models.functions import Greatest
from django.utils import timezone

from diagnostics.diagnosis import Diagnosis, diagnose
from diagnostics.vocabulary import Category, Retry
from sequences import selectors
from sequences.models import AuditEntry, Mailbox, ScheduledEmail, SendAttempt, Sequence
from sequences.services.audit import audit_record
from sequences.services.emails import emails_reschedule
from sequences.services.errors import WrongState
from sequences.services.imap import ImapFailure, imap_session
from sequences.services.oauth import OAuthRefused, mailbox_set_tokens, oauth_exchange
from sequences.services.pacing import next_sending_time
from sequences.services.smtp import Deadline, MailboxSession, SmtpFailure

Status = ScheduledEmail.Status
# What a broken mailbox holds: everything not yet handed to a server.
HOLDABLE = (Status.SCHEDULED, Status.RETRYING, Status.SENDING)
# After a failure to connect, greet, start TLS or sign in, the mailbox's other emails wait
# this long (one attempt per mailbox, not one per email, while its server is down).
CONNECTION_PAUSE = 60
# The diagnosis of a mailbox held for failing to connect again and again (diagnostics'
# pipeline entries); the periodic re-check tries these mailboxes again.
UNREACHABLE_CODE = "pipeline.mailbox_unreachable"


@dataclass(frozen=True)
class ResyncResult:
    connected: bool
    rescheduled: int
    diagnosis: Diagnosis | None = None
    first_send_at: dt.datetime | None = None

    def as_json(self) -> dict[str, object]:
        """What the resync did, as its request's audit entry keeps it for the page."""
        return {
            "connected": self.connected,
            "rescheduled": self.rescheduled,
            "first_send_at": self.first_send_at.isoformat() if self.first_send_at else None,
            "error_code": self.diagnosis.code if self.diagnosis else None,
        }


def mailbox_mark_broken(
    *, mailbox_id: int, diagnosis: Diagnosis, now: dt.datetime, state: str | None = None
) -> None:
    """The mailbox cannot send: a refused sign-in (`invalid_credentials`), or another
    connection failure (`sync_error`); `state` when the caller knows better."""
    if state is None:
        state = (
            Mailbox.State.INVALID_CREDENTIALS
            if diagnosis.category == Category.MAILBOX_CONNECTION
            else Mailbox.State.SYNC_ERROR
        )
    Mailbox.objects.filter(pk=mailbox_id).update(
        state=state,
        last_error=diagnosis.raw,
        last_error_code=diagnosis.code,
        last_checked_at=now,
    )


def mailbox_hold(
    *, mailbox_id: int, diagnosis: Diagnosis, now: dt.datetime, state: str | None = None
) -> int:
    """Mark the mailbox broken and block its pending emails until a resync succeeds.

    They are not each tried and failed against a mailbox known to be broken. Emails whose
    send has started are left to the pipeline, which knows whether the server has them.
    """
    mailbox_mark_broken(mailbox_id=mailbox_id, diagnosis=diagnosis, now=now, state=state)
    return (
        ScheduledEmail.objects.filter(mailbox_id=mailbox_id, status__in=HOLDABLE)
        .exclude(attempts__outcome=SendAttempt.Outcome.STARTED)
        .update(
            status=Status.BLOCKED,
            next_attempt_at=None,
            claimed_at=None,
            status_reason=diagnosis.title,
            last_error=diagnosis.raw,
            error_code=diagnosis.code,
            error_category=diagnosis.category,
            updated_at=now,
        )
    )


def mailbox_pause(*, mailbox_id: int, until: dt.datetime) -> None:
    """Send nothing from the mailbox before `until` (the provider said too many, or quota)."""
    Mailbox.objects.filter(pk=mailbox_id).update(paused_until=until)


def mailbox_connection_failed(
    *, mailbox_id: int, diagnosis: Diagnosis, now: dt.datetime
) -> Diagnosis | None:
    """The mailbox's server could not be reached (refused, silent, dropped) for a moment.

    The mailbox waits CONNECTION_PAUSE; after MAILBOX_CONNECTION_FAILURES such failures in
    a row it is held as unreachable (a sync error the periodic re-check and a resync lift).
    Returns the diagnosis it is held with, if it is.
    """
    Mailbox.objects.filter(pk=mailbox_id).update(
        connection_failures=F("connection_failures") + 1,
        paused_until=now + dt.timedelta(seconds=CONNECTION_PAUSE),
    )
    failures = Mailbox.objects.values_list("connection_failures", flat=True).get(pk=mailbox_id)
    if failures < settings.MAILBOX_CONNECTION_FAILURES:
        return None
    unreachable = diagnose(unreachable_refusal(failures, diagnosis.raw))
    mailbox_hold(
        mailbox_id=mailbox_id, diagnosis=unreachable, now=now, state=Mailbox.State.SYNC_ERROR
    )
    return unreachable


def mailbox_connected(*, mailbox_id: int) -> None:
    """The mailbox's server took a message: its run of connection failures is over."""
    Mailbox.objects.filter(pk=mailbox_id, connection_failures__gt=0).update(connection_failures=0)


def unreachable_refusal(failures: int, last: str) -> str:
    """What a mailbox held for failing to connect says (diagnostics reads it)."""
    return (
        f"Not sent: the mailbox's SMTP server could not be reached {failures} times in a row "
        f"(last: {last}). Its emails wait until it connects again."
    )


def mailboxes_recheck(*, now: dt.datetime | None = None) -> list[ResyncResult]:
    """Try again the mailboxes held for being unreachable, once their last try is old enough.

    A server that was down comes back without anyone clicking Resynchronize; a refused
    sign-in is not retried with the same secret (that only locks accounts).
    """
    now = now or timezone.now()
    due = Mailbox.objects.filter(
        state=Mailbox.State.SYNC_ERROR,
        last_error_code=UNREACHABLE_CODE,
        last_checked_at__lte=now - dt.timedelta(seconds=settings.MAILBOX_RECHECK_SECONDS),
    )
    return [_resync(mailbox) for mailbox in due]


def mailbox_resync_request(*, actor: AbstractBaseUser, mailbox: Mailbox) -> AuditEntry:
    """Ask a worker to reconnect the mailbox; the page then follows the outcome.

    The request is the audit entry: the worker adds what the resync did to it.
    """
    from sequences.tasks import resync_mailbox  # tasks call the services: import at use

    with transaction.atomic():
        entry = audit_record(
            actor=actor,
            organization_id=mailbox.organization_id,
            action=AuditEntry.Action.RESYNC_MAILBOX,
            target=mailbox,
        )
        resync_mailbox.delay_on_commit(mailbox.pk, entry.pk)
    return entry


def mailbox_resync(*, mailbox_id: int, request_id: int | None = None) -> ResyncResult:
    """Connect and authenticate for real; on success reschedule what the failure held.

    On failure the mailbox keeps (or gets) its broken state with the server's reply. The
    outcome is added to the request's audit entry (`request_id`), where the page reads it.
    """
    result = _resync(Mailbox.objects.get(pk=mailbox_id))
    if request_id is not None:
        entry = AuditEntry.objects.filter(
            pk=request_id, action=AuditEntry.Action.RESYNC_MAILBOX, target_id=str(mailbox_id)
        ).first()
        if entry is not None:
            entry.detail = {**entry.detail, "outcome": result.as_json()}
            entry.save(update_fields=["detail"])
    return result


def _resync(mailbox: Mailbox) -> ResyncResult:
    now = timezone.now()
    try:
        with MailboxSession(mailbox) as session:
            session.open()
    except SmtpFailure as failure:
        diagnosis = diagnose(failure.raw)
        if mailbox.last_error_code == UNREACHABLE_CODE and diagnosis.retry == Retry.AUTO:
            # Still down: still held as unreachable, so the re-check goes on trying it.
            diagnosis = (
                mailbox_connection_failed(mailbox_id=mailbox.pk, diagnosis=diagnosis, now=now)
                or diagnosis
            )
        else:
            mailbox_mark_broken(mailbox_id=mailbox.pk, diagnosis=diagnosis, now=now)
        return ResyncResult(connected=False, rescheduled=0, diagnosis=diagnosis)
    with transaction.atomic():
        return _reconnected(mailbox, now)


def _reconnected(mailbox: Mailbox, now: dt.datetime) -> ResyncResult:
    """The mailbox connected again: what its failure held goes back on the schedule."""
    slot = next_sending_time(mailbox, now)
    Mailbox.objects.filter(pk=mailbox.pk).update(
        state=Mailbox.State.CONNECTED,
        connection_failures=0,
        last_error="",
        last_error_code="",
        last_checked_at=now,
        paused_until=None,
    )
    rescheduled = selectors.mailbox_held_emails(mailbox=mailbox).update(
        status=Status.SCHEDULED,
        next_attempt_at=Greatest(F("scheduled_for"), Value(slot)),
        status_reason="",
        updated_at=now,
    )
    return ResyncResult(connected=True, rescheduled=rescheduled, first_send_at=slot)


@dataclass(frozen=True)
class ConnectionTest:
    """How far a connection with a mailbox's settings got: the steps that passed, in words,
    and the diagnosis of the one that failed (None: every step passed)."""

    passed: tuple[str, ...]
    diagnosis: Diagnosis | None = None

    @property
    def ok(self) -> bool:
        return self.diagnosis is None


def mailbox_connection_test(mailbox: Mailbox) -> ConnectionTest:
    """Connect, greet, start TLS and sign in for real with the mailbox's settings as they
    are on `mailbox` (saved or not), over SMTP, then over IMAP when it has an IMAP server;
    nothing is sent, read or stored."""
    passed: list[str] = []
    try:
        with MailboxSession(mailbox, deadline=Deadline(settings.SMTP_TIMEOUT)) as session:
            session.open(passed.append)
    except SmtpFailure as failure:
        return ConnectionTest(tuple(passed), diagnose(failure.raw))
    if mailbox.imap_host:  # where bounces and replies are read
        try:
            with imap_session(mailbox, timeout=settings.SMTP_TIMEOUT):
                passed.append(
                    f"Signed in to the IMAP server {mailbox.imap_host}:{mailbox.imap_port} "
                    f"as {mailbox.imap_login}."
                )
        except ImapFailure as failure:
            return ConnectionTest(tuple(passed), diagnose(failure.raw))
    return ConnectionTest(tuple(passed))


def mailbox_reconnect(
    *, actor: AbstractBaseUser, mailbox: Mailbox, fields: list[str]
) -> tuple[ConnectionTest, ResyncResult | None]:
    """Save the settings changed on `mailbox` (`fields`) once they pass a connection test:
    the mailbox is connected again and what its failure held is rescheduled, as a resync
    does. A failing test saves nothing. Audited by the names of the fields changed, never
    their values (a password among them)."""
    test = mailbox_connection_test(mailbox)
    if not test.ok:
        return test, None
    with transaction.atomic():
        mailbox.save(update_fields=fields)
        result = _reconnected(mailbox, timezone.now())
        audit_record(
            actor=actor,
            organization_id=mailbox.organization_id,
            action=AuditEntry.Action.EDIT_MAILBOX,
            target=mailbox,
            changed=sorted(fields),
            rescheduled=result.rescheduled,
        )
    return test, result


def mailbox_connect(
    *, actor: AbstractBaseUser, mailbox: Mailbox, keep_if_refused: bool = False
) -> ConnectionTest:
    """Save a new mailbox (`mailbox`, unsaved) once a connection test with its settings
    passes: connected. A failing test saves nothing, unless `keep_if_refused`: then it is
    kept as not connected, with the diagnosis of the failure, for a later reconnect."""
    test = mailbox_connection_test(mailbox)
    if not test.ok and not keep_if_refused:
        return test
    now = timezone.now()
    with transaction.atomic():
        mailbox.last_checked_at = now
        mailbox.save()
        if not test.ok:
            mailbox_mark_broken(mailbox_id=mailbox.pk, diagnosis=test.diagnosis, now=now)
        audit_record(
            actor=actor,
            organization_id=mailbox.organization_id,
            action=AuditEntry.Action.CONNECT_MAILBOX,
            target=mailbox,
            connected=test.ok,
        )
    return test


@dataclass(frozen=True)
class OAuthSignIn:
    """Where an OAuth consent came back to: the authorization code, and what the flow was
    started for (a new mailbox of `owner_id` at `email`, or the mailbox `mailbox_id`)."""

    provider: str
    redirect_uri: str
    code: str
    code_verifier: str
    organization_id: int
    owner_id: int
    email: str
    mailbox_id: int | None = None


def mailbox_oauth_sign_in(
    *, actor: AbstractBaseUser, sign_in: OAuthSignIn
) -> tuple[Mailbox | None, ConnectionTest]:
    """Exchange the code for tokens, then sign in over SMTP with XOAUTH2 for real.

    A new mailbox is saved either way: connected, or not connected with the reason (its
    consent was given; what fails is its server). A mailbox signed in again (or switched
    from its password) is saved only once the test passes, and what its failure held is
    rescheduled, as a reconnect does. A refused exchange saves nothing."""
    try:
        token = oauth_exchange(
            provider=sign_in.provider,
            redirect_uri=sign_in.redirect_uri,
            code=sign_in.code,
            code_verifier=sign_in.code_verifier,
        )
    except OAuthRefused as refused:
        return None, ConnectionTest((), diagnose(refused.raw))
    if sign_in.mailbox_id is None:
        host, port, security = settings.OAUTH_SMTP_SERVERS[sign_in.provider]
        mailbox = Mailbox(
            organization_id=sign_in.organization_id,
            owner_id=sign_in.owner_id,
            email=sign_in.email,
            provider=sign_in.provider,
            smtp_host=host,
            smtp_port=port,
            smtp_security=security,
            smtp_username=sign_in.email,
            smtp_secret="",
        )
        mailbox_set_tokens(mailbox, token)
        return mailbox, mailbox_connect(actor=actor, mailbox=mailbox, keep_if_refused=True)
    mailbox = Mailbox.objects.get(pk=sign_in.mailbox_id, organization_id=sign_in.organization_id)
    # A password mailbox switching to OAuth forgets its password.
    mailbox.smtp_username, mailbox.smtp_secret = mailbox.email, ""
    fields = ["smtp_username", "smtp_secret", *mailbox_set_tokens(mailbox, token)]
    test, _ = mailbox_reconnect(actor=actor, mailbox=mailbox, fields=fields)
    return mailbox, test


# What moving a mailbox's work takes along: every email not yet handed to a server (one
# being sent stays with the worker that holds it; an uncertain delivery stays where it was
# probably delivered from).
MOVABLE = ScheduledEmail.UNSENT_STATUSES


def mailbox_move_pending(
    *, actor: AbstractBaseUser, source: Mailbox, target: Mailbox
) -> tuple[int, list[ScheduledEmail]]:
    """Move the sequences that send from `source`, and their pending emails, to `target`
    (connected, of the same organization): the emails go out from it, rescheduled at the
    next free moment of its window and within its caps. Audited. Returns how many emails
    moved, and those rescheduled (the follow-ups still wait for their step)."""
    if target.organization_id != source.organization_id or target.pk == source.pk:
        raise WrongState("Emails move to another mailbox of the same organization.")
    if target.state != Mailbox.State.CONNECTED:
        raise WrongState(f"{target.email} is not connected: connect it first.")
    with transaction.atomic():
        Sequence.objects.filter(mailbox=source).update(mailbox=target)
        moved, rescheduled = emails_move(
            actor=actor, emails=ScheduledEmail.objects.filter(mailbox=source), target=target
        )
        audit_record(
            actor=actor,
            organization_id=source.organization_id,
            action=AuditEntry.Action.MOVE_MAILBOX_EMAILS,
            target=source,
            to=target.email,
            emails=moved,
        )
    return moved, rescheduled


def emails_movable(emails: QuerySet[ScheduledEmail]) -> QuerySet[ScheduledEmail]:
    """Of `emails`, those a move to another mailbox takes along (MOVABLE)."""
    return emails.filter(status__in=MOVABLE).exclude(error_code=ScheduledEmail.DELIVERY_UNCERTAIN)


def emails_move(
    *, actor: AbstractBaseUser, emails: QuerySet[ScheduledEmail], target: Mailbox
) -> tuple[int, list[ScheduledEmail]]:
    """Move the movable ones of `emails` to `target`, rescheduled at its next free moment
    (the follow-ups still wait for their step). Returns how many moved, and those
    rescheduled. The caller checks `target` and audits."""
    with transaction.atomic():
        ids = list(emails_movable(emails).select_for_update().values_list("pk", flat=True))
        ScheduledEmail.objects.filter(pk__in=ids).update(mailbox=target)
        moved = ScheduledEmail.objects.filter(pk__in=ids)
        rescheduled = emails_reschedule(actor=actor, emails=moved.exclude(status=Status.WAITING))
    return len(ids), rescheduled
