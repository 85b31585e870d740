"""Reading each mailbox over IMAP, and applying what each new message means.

The reader never changes the rep's mailbox: folders are opened read-only (EXAMINE), bodies
fetched with BODY.PEEK (no \\Seen), nothing is flagged, moved or deleted. It reads what
arrived since its last read (UIDVALIDITY and the last UID per folder, MailboxFolder), and
only from the mailbox's first send on: nothing before it can be about our emails. Each
message is applied once per mailbox (InboundMessage, keyed by its Message-ID), whatever
the server's numbering does.

The connection is imap.py's. A failure to connect or sign in is the mailbox's connection
problem, diagnosed and held as SMTP's is (mailboxes.py).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import imaplib
import logging
import re
from collections import Counter
from dataclasses import dataclass, field
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import parseaddr, parsedate_to_datetime

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from django.utils.timesince import timesince

from diagnostics.diagnosis import Diagnosis, diagnose
from diagnostics.message import MessageDiagnosis, Recipient, diagnose_message
from diagnostics.message.mime import READ_LIMIT, message_ids
from diagnostics.vocabulary import MessageKind, Retry
from sequences.models import (
    InboundMessage,
    Mailbox,
    MailboxFolder,
    ScheduledEmail,
    SendAttempt,
)
from sequences.services.contacts import contact_complained, enrollment_replied
from sequences.services.emails import emails_postpone
from sequences.services.imap import ImapFailure, imap_raw, imap_session
from sequences.services.mailboxes import (
    mailbox_connected,
    mailbox_connection_failed,
    mailbox_hold,
)
from sequences.services.sending import email_bounced, email_delivery_confirmed
from sequences.services.sequences import sequence_check_complaint_rate

logger = logging.getLogger(__name__)
Status = ScheduledEmail.Status
# The headers a reply or report is kept with (support sees whom, when, about what).
KEPT_HEADERS = ("From", "To", "Date", "Subject", "Message-ID", "In-Reply-To", "References")
CLOCK_SKEW = dt.timedelta(minutes=5)
_FETCHED = re.compile(rb"UID (\d+)")
_STATUS = re.compile(rb"(UIDNEXT|UIDVALIDITY) (\d+)")


@dataclass
class ReadResult:
    """What one read of a mailbox did: messages read, applied by kind, sends confirmed."""

    read: int = 0
    applied: Counter[str] = field(default_factory=Counter)
    confirmed: int = 0


def mailboxes_to_read() -> list[int]:
    """The connected mailboxes with an IMAP server that have sent something."""
    return list(
        Mailbox.objects.filter(state=Mailbox.State.CONNECTED)
        .exclude(imap_host="")
        # One index probe per mailbox (send_attempt_by_mailbox), not a join of all sends.
        .filter(Exists(SendAttempt.objects.filter(mailbox=OuterRef("pk"))))
        .values_list("pk", flat=True)
    )


def mailbox_read_inbox(*, mailbox_id: int) -> ReadResult | None:
    """Read what arrived in the mailbox's folders since the last read and apply each new
    message; confirm the uncertain sends found in its Sent folder. None when another
    reader holds the mailbox. A failure to connect or sign in holds or pauses the mailbox
    as the same SMTP failure would."""
    now = timezone.now()
    lease = now + dt.timedelta(seconds=settings.INBOX_LEASE_SECONDS)
    taken = Mailbox.objects.filter(
        Q(inbox_lease_until__isnull=True) | Q(inbox_lease_until__lt=now), pk=mailbox_id
    ).update(inbox_lease_until=lease)
    if not taken:
        return None
    try:
        return _read(Mailbox.objects.get(pk=mailbox_id))
    finally:
        Mailbox.objects.filter(pk=mailbox_id, inbox_lease_until=lease).update(
            inbox_lease_until=None
        )


def _read(mailbox: Mailbox) -> ReadResult:
    result = ReadResult()
    since = (
        SendAttempt.objects.filter(mailbox=mailbox)
        .order_by("started_at")
        .values_list("started_at", flat=True)
        .first()
    )
    if since is None:  # nothing sent: nothing in the mailbox is about us
        return result
    try:
        with imap_session(mailbox) as client:
            for folder in mailbox.imap_folder_names:
                _read_folder(client, mailbox, folder, since, result)
            result.confirmed = _confirm_uncertain(client, mailbox)
    except ImapFailure as failure:
        _connection_failed(mailbox, diagnose(failure.raw))
        return result
    except (imaplib.IMAP4.error, OSError) as exc:  # dropped mid-read: read again next time
        _connection_failed(mailbox, diagnose(imap_raw(exc)))
        return result
    if mailbox.connection_failures:
        mailbox_connected(mailbox_id=mailbox.pk)
    return result


def _connection_failed(mailbox: Mailbox, diagnosis: Diagnosis) -> None:
    now = timezone.now()
    if diagnosis.category in Mailbox.HOLDING_CATEGORIES:
        mailbox_hold(mailbox_id=mailbox.pk, diagnosis=diagnosis, now=now)
    elif diagnosis.retry == Retry.AUTO:
        mailbox_connection_failed(mailbox_id=mailbox.pk, diagnosis=diagnosis, now=now)
    else:
        logger.warning("reading mailbox %s: %s", mailbox.pk, diagnosis.raw)


def _quoted(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _read_folder(
    client: imaplib.IMAP4,
    mailbox: Mailbox,
    folder: str,
    since: dt.datetime,
    result: ReadResult,
) -> None:
    """One folder: a STATUS round trip when nothing is new, else EXAMINE and fetch."""
    typ, data = client.status(_quoted(folder), "(UIDVALIDITY UIDNEXT)")
    if typ != "OK":  # no such folder on this server (its settings name another)
        logger.info("mailbox %s has no folder %s: %s", mailbox.pk, folder, data)
        return
    status = {name.decode(): int(value) for name, value in _STATUS.findall(data[0] or b"")}
    uidvalidity, uidnext = status["UIDVALIDITY"], status["UIDNEXT"]
    state = MailboxFolder.objects.filter(mailbox=mailbox, name=folder).first()
    same = state is not None and state.uidvalidity == uidvalidity
    if same and uidnext - 1 <= state.last_uid:
        return
    client.select(_quoted(folder), readonly=True)
    # After the last UID read; on a first read or a renumbering, all since the first send.
    last = state.last_uid if same else 0
    criteria = ("UID", f"{last + 1}:*") if same else ("SINCE", since.strftime("%d-%b-%Y"))
    _, data = client.uid("SEARCH", *criteria)
    # "n:*" also matches the last message when it is below n (RFC 3501): filtered out.
    uids = sorted(uid for uid in map(int, (data[0] or b"").split()) if uid > last)
    for start in range(0, len(uids), settings.INBOX_FETCH_BATCH):
        chunk = uids[start : start + settings.INBOX_FETCH_BATCH]
        messages = _fetch(client, chunk)
        result.read += len(messages)
        for kind in messages_apply(mailbox=mailbox, folder=folder, messages=messages, since=since):
            result.applied[kind] += 1
        last = chunk[-1]
        _folder_read(mailbox, folder, uidvalidity, last)
    if not uids:
        _folder_read(mailbox, folder, uidvalidity, last)


def _folder_read(mailbox: Mailbox, folder: str, uidvalidity: int, last_uid: int) -> None:
    MailboxFolder.objects.update_or_create(
        mailbox=mailbox,
        name=folder,
        defaults={"uidvalidity": uidvalidity, "last_uid": last_uid, "read_at": timezone.now()},
    )


def _fetch(client: imaplib.IMAP4, uids: list[int]) -> list[tuple[int, bytes]]:
    """The messages' first READ_LIMIT bytes and one more (what diagnose_message reads, and
    enough to tell it was cut), without setting \\Seen."""
    _, data = client.uid(
        "FETCH", ",".join(map(str, uids)), f"(UID BODY.PEEK[]<0.{READ_LIMIT + 1}>)"
    )
    fetched = []
    for item in data:
        if isinstance(item, tuple):
            found = _FETCHED.search(item[0])
            if found:
                fetched.append((int(found.group(1)), item[1]))
    return fetched


# -- Applying what a message means ---------------------------------------------------------


def message_key(headers: object, raw: bytes) -> str:
    """What makes a message the same one in any folder, under any numbering."""
    ids = message_ids(str(headers.get("Message-ID", "")))
    if ids:
        return ids[0][:255]
    head = raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    return "sha256:" + hashlib.sha256(head).hexdigest()


def messages_apply(
    *, mailbox: Mailbox, folder: str, messages: list[tuple[int, bytes]], since: dt.datetime
) -> list[str]:
    """Apply each message not yet applied for this mailbox; returns their kinds."""
    parser = BytesHeaderParser(policy=compat32)
    parsed = [(uid, raw, parser.parsebytes(raw)) for uid, raw in messages]
    keyed = [(uid, raw, headers, message_key(headers, raw)) for uid, raw, headers in parsed]
    known = set(
        InboundMessage.objects.filter(
            mailbox=mailbox, key__in=[key for *_, key in keyed]
        ).values_list("key", flat=True)
    )
    kinds = []
    for uid, raw, headers, key in keyed:
        if key in known:
            continue
        known.add(key)
        received = _written_at(headers) or timezone.now()
        if received < since - dt.timedelta(days=1):  # written before the first send
            continue
        found = diagnose_message(raw)
        with transaction.atomic():
            record = InboundMessage(
                mailbox=mailbox,
                key=key,
                folder=folder,
                uid=uid,
                kind=found.kind,
                received_at=received,
            )
            _APPLY.get(found.kind, _nothing)(record, found, headers)
            _save(record, headers)
        kinds.append(found.kind)
    return kinds


def _save(record: InboundMessage, headers: object) -> None:
    """Save the record (before what it changes, so that the guards count it)."""
    if record.email_id is not None:  # headers kept only about our own emails
        record.headers = "".join(
            f"{name}: {headers[name]}\n" for name in KEPT_HEADERS if headers[name]
        )
    record.save()


def _written_at(headers: object) -> dt.datetime | None:
    try:
        written = parsedate_to_datetime(str(headers.get("Date", "")))
    except (TypeError, ValueError, IndexError):
        return None
    if written is None:
        return None
    return written if written.tzinfo else written.replace(tzinfo=dt.UTC)


def _our_email(mailbox: Mailbox, ids: list[str]) -> ScheduledEmail | None:
    if not ids:
        return None
    return (
        ScheduledEmail.objects.select_related("contact", "step", "mailbox")
        # Not "": the partial unique index of Message-IDs answers it.
        .filter(mailbox=mailbox, message_id__in=ids)
        .exclude(message_id="")
        .order_by("-sent_at")
        .first()
    )


def _last_sent_to(mailbox: Mailbox, address: str, before: dt.datetime) -> ScheduledEmail | None:
    """The mailbox's last email to `address` sent before `before`, within INBOX_MATCH_DAYS."""
    if not address:
        return None
    return (
        ScheduledEmail.objects.select_related("contact", "step", "mailbox")
        .filter(
            mailbox=mailbox,
            contact__email__iexact=address,
            # Another server's clock may be a few minutes off ours.
            sent_at__lte=before + CLOCK_SKEW,
            sent_at__gte=before - dt.timedelta(days=settings.INBOX_MATCH_DAYS),
        )
        .order_by("-sent_at")
        .first()
    )


def _matched(
    record: InboundMessage, found: MessageDiagnosis, headers: object, address: str
) -> ScheduledEmail | None:
    """The email the message is about: by the Message-IDs it names, else by the address
    and the mailbox's last send to it."""
    ids = [found.original_message_id] if found.original_message_id else []
    ids += message_ids(str(headers.get("In-Reply-To", "")))
    ids += message_ids(str(headers.get("References", "")))
    email = _our_email(record.mailbox, ids) or _last_sent_to(
        record.mailbox, address, record.received_at
    )
    if email is not None:
        record.email, record.contact = email, email.contact
    else:
        record.outcome = "No email of this mailbox matches it."
    return email


def _sender(headers: object) -> str:
    return parseaddr(str(headers.get("From", "")))[1].lower()


def _keep_report(record: InboundMessage, recipient: Recipient, found: MessageDiagnosis) -> None:
    diagnosis = recipient.diagnosis
    record.diagnostic = recipient.diagnostic
    record.report = (
        f"Recipient: {recipient.address}\nAction: {recipient.action}\n"
        + (f"Status: {recipient.status}\n" if recipient.status else "")
        + (f"Remote-MTA: {recipient.remote_mta}\n" if recipient.remote_mta else "")
    )
    if found.original_message_id:
        record.report += f"Original-Message-ID: {found.original_message_id}\n"
    record.error_code, record.category, record.retry = (
        diagnosis.code,
        diagnosis.category,
        diagnosis.retry,
    )


def _failed_recipient(found: MessageDiagnosis) -> Recipient | None:
    failed = [r for r in found.recipients if r.action == "failed"]
    return (failed or list(found.recipients) or [None])[0]


def _bounce(record: InboundMessage, found: MessageDiagnosis, headers: object) -> None:
    recipient = _failed_recipient(found)
    email = _matched(record, found, headers, recipient.address if recipient else "")
    if recipient is None:
        diagnosis = diagnose("The message was returned without saying why.")
    else:
        _keep_report(record, recipient, found)
        diagnosis = recipient.diagnosis
    if email is None:
        return
    if email.status not in (Status.SENT, Status.REPLIED):
        record.outcome = f"The email is {email.get_status_display().lower()} already."
        return
    after = ""
    if email.sent_at:  # timesince says "0 minutes" under a minute
        quick = record.received_at - email.sent_at < dt.timedelta(minutes=1)
        after = (
            "less than a minute" if quick else timesince(email.sent_at, record.received_at, depth=1)
        )
    reason = f"Bounced {after} after it was sent: {diagnosis.title}" if after else diagnosis.title
    record.outcome = reason
    _save(record, headers)
    email_bounced(email=email, diagnosis=diagnosis, reason=reason)


def _delay(record: InboundMessage, found: MessageDiagnosis, headers: object) -> None:
    recipient = found.recipients[0] if found.recipients else None
    _matched(record, found, headers, recipient.address if recipient else "")
    if recipient is not None:
        _keep_report(record, recipient, found)
    if record.email_id is not None:
        record.outcome = "Shown on the email's timeline."


def _reply(record: InboundMessage, found: MessageDiagnosis, headers: object) -> None:
    email = _matched(record, found, headers, _sender(headers))
    if email is None:
        return
    when = record.received_at.strftime("%b %-d, %H:%M UTC")
    cancelled = enrollment_replied(email=email, reason=f"Contact replied on {when}")
    record.outcome = f"The sequence stopped for this contact; {cancelled} email(s) cancelled."


def _auto_reply(record: InboundMessage, found: MessageDiagnosis, headers: object) -> None:
    email = _matched(record, found, headers, _sender(headers))
    if email is None:
        return
    if not found.return_date:
        record.outcome = "Automatic reply without a return date: nothing changes."
        return
    back = dt.date.fromisoformat(found.return_date)
    record.return_date = back
    latest = timezone.now() + dt.timedelta(days=settings.OUT_OF_OFFICE_MAX_DAYS)
    until = min(dt.datetime.combine(back + dt.timedelta(days=1), dt.time(), dt.UTC), latest)
    moved = emails_postpone(
        emails=ScheduledEmail.objects.filter(enrollment_id=email.enrollment_id), until=until
    )
    record.outcome = (
        f"Out of office until {back:%b %-d}: the next step moved to {until:%b %-d}."
        if moved
        else f"Out of office until {back:%b %-d}: no step was due before then."
    )


def _feedback(record: InboundMessage, found: MessageDiagnosis, headers: object) -> None:
    recipient = found.recipients[0] if found.recipients else None
    email = _matched(record, found, headers, recipient.address if recipient else "")
    if recipient is not None:
        _keep_report(record, recipient, found)
    if email is None:
        return
    kind = found.feedback_type or "abuse"
    _save(record, headers)
    cancelled = contact_complained(
        contact_id=email.contact_id,
        reason=f"Reported an email as spam ({kind} report, {record.received_at:%b %-d})",
    )
    sequence_check_complaint_rate(sequence_id=email.sequence_id)
    record.outcome = f"Contact suppressed after a complaint; {cancelled} email(s) cancelled."


def _nothing(record: InboundMessage, found: MessageDiagnosis, headers: object) -> None:
    """Mail that is none of ours to act on: only its key is kept, so it is read once."""


_APPLY = {
    MessageKind.BOUNCE: _bounce,
    MessageKind.DELAY: _delay,
    MessageKind.DELIVERED: _delay,
    MessageKind.REPLY: _reply,
    MessageKind.AUTO_REPLY: _auto_reply,
    MessageKind.FEEDBACK: _feedback,
}


# -- Uncertain sends -----------------------------------------------------------------------


def _confirm_uncertain(client: imaplib.IMAP4, mailbox: Mailbox) -> int:
    """Each uncertain send of the mailbox whose Message-ID is in its Sent folder was sent
    (Gmail and Microsoft 365 save there what SMTP sends): recorded so."""
    uncertain = list(
        ScheduledEmail.objects.filter(
            mailbox=mailbox,
            status=Status.BLOCKED,
            error_code=ScheduledEmail.DELIVERY_UNCERTAIN,
        ).exclude(message_id="")
    )
    if not uncertain or not mailbox.imap_sent_folder:
        return 0
    typ, _ = client.select(_quoted(mailbox.imap_sent_folder), readonly=True)
    if typ != "OK":
        return 0
    confirmed = 0
    for email in uncertain:
        typ, data = client.uid("SEARCH", "HEADER", "Message-ID", _quoted(email.message_id))
        if typ == "OK" and (data[0] or b"").split():
            email_delivery_confirmed(email=email, folder=mailbox.imap_sent_folder)
            confirmed += 1
    return confirmed
