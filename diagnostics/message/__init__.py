"""Diagnose a whole message that lands in the sender's mailbox (../shared/diagnosis-contract.md,
"Whole messages"): a bounce, a delay notice, a success notice, a feedback report, an
automatic reply, a person's reply, or something else.

`diagnose_message` is a function of the bytes alone and never raises. Which kind wins,
first that applies:

1. A feedback report (RFC 5965: a message/feedback-report part, or report-type
   feedback-report): `feedback`.
2. A delivery status notification (RFC 3464 message/delivery-status): `bounce` if a
   recipient failed, else `delay` if one is still being retried, else `delivered`. The
   servers that write no such part (qmail, Lotus Notes, old Gmail…) are told by their
   sender (MAILER-DAEMON, postmaster), their subject or X-Failed-Recipients, and their
   recipients read from the text.
3. The same, forwarded: a report inside a message/rfc822 attachment.
4. An automatic reply (autoreply.py): `auto_reply`, with the return date its text gives.
5. A person's reply (In-Reply-To, References or a reply prefix in the subject): `reply`.
6. `other`.

Each recipient of a report is diagnosed by `diagnose` on its diagnostic text, weighed with
the report's own fields (`_weighed`).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from email.errors import MessageError

from diagnostics.diagnosis import Diagnosis, diagnose
from diagnostics.message import autoreply, reports
from diagnostics.message.mime import READ_LIMIT, Reading, message_ids, read_message, read_parts
from diagnostics.message.reports import Reported
from diagnostics.vocabulary import Category, FeedbackType, Fix, MessageKind, Retry

# How many message/rfc822 attachments deep a forwarded report is looked for.
MAX_FORWARDS = 3

_REPLY_PREFIX = re.compile(
    r"^\s*(?:re|aw|sv|vs|antw|antwort|rif|r|réf|ref|res|odp|ynt|回复|答复|返信)\s*(?:\[\d+\])?\s*[:\uff1a]",
    re.I,
)
# The explanation of a transient failure that the servers on the way stopped retrying.
_GAVE_UP = (
    "{title}: the servers on the way kept retrying until they gave up, so the email was not "
    "delivered and is not retried by itself. Reschedule it to try again."
)
# The explanation of a recipient a server on the way is still trying to deliver to.
_STILL_TRYING = (
    "{title}: a server on the way is still trying to deliver the email, and will say so if "
    "it gives up. Nothing to do yet."
)
_HEADER_LINE = re.compile(rb"(?:From |[!-9;-~]+:)")


@dataclass(frozen=True, slots=True)
class Recipient:
    address: str
    action: str
    status: str | None
    remote_mta: str | None
    diagnostic: str
    diagnosis: Diagnosis

    def to_json(self) -> dict[str, object]:
        """The contract's recipient object: the report's fields, then the diagnosis's."""
        diagnosis = self.diagnosis.to_json()
        del diagnosis["raw"]  # it is `diagnostic`
        return {
            "address": self.address,
            "action": self.action,
            "status": self.status,
            "remote_mta": self.remote_mta,
            "diagnostic": self.diagnostic,
            **diagnosis,
        }


@dataclass(frozen=True, slots=True)
class MessageDiagnosis:
    kind: MessageKind
    original_message_id: str | None = None
    recipients: tuple[Recipient, ...] = ()
    return_date: str | None = None
    feedback_type: FeedbackType | None = None
    # Why the message could not be read (then the kind is `other`).
    error: str | None = None

    def to_json(self) -> dict[str, object]:
        """The contract's fields (all but `file`, which is the command line's), `error`
        only when there is one."""
        fields: dict[str, object] = {
            "kind": self.kind,
            "original_message_id": self.original_message_id,
            "recipients": [recipient.to_json() for recipient in self.recipients],
            "return_date": self.return_date,
            "feedback_type": self.feedback_type,
        }
        if self.error is not None:
            fields["error"] = self.error
        return fields


def unreadable(error: str) -> MessageDiagnosis:
    return MessageDiagnosis(MessageKind.OTHER, error=error)


def diagnose_message(raw: bytes) -> MessageDiagnosis:
    problem = _unreadable(raw)
    if problem:
        return unreadable(problem)
    try:
        reading = read_message(raw)
        found = _diagnose(reading, 0)
    except (
        MessageError,
        RecursionError,
        LookupError,
        ValueError,
        TypeError,
        AttributeError,
    ) as error:
        # The email package's lenient parser still has corners that raise on hostile input.
        return unreadable(f"unreadable message: {type(error).__name__}: {error}"[:300])
    if found.kind is MessageKind.OTHER and _truncated(reading, raw):
        return unreadable("truncated message: a MIME part ends before its closing boundary")
    return found


def _unreadable(raw: bytes) -> str | None:
    if not raw.strip():
        return "empty message"
    if b"\x00" in raw[:READ_LIMIT]:
        return "binary content (NUL bytes), not an email message"
    if not _HEADER_LINE.match(raw.lstrip(b"\r\n")):
        return "not an email message: it does not start with a header"
    return None


def _truncated(reading: Reading, raw: bytes) -> bool:
    """A multipart that ends before its closing boundary, in a message shorter than what is
    read (a longer one is cut on purpose, mime.READ_LIMIT). Only said of a message that is
    no report: real reports are often sent without their closing boundary."""
    if len(raw) > READ_LIMIT or not reading.message.is_multipart():
        return False
    return any(
        type(defect).__name__ == "CloseBoundaryNotFoundDefect" for defect in reading.message.defects
    )


def _diagnose(reading: Reading, forwards: int) -> MessageDiagnosis:
    if reading.feedback or "feedback-report" in str(reading.message.get_param("report-type", "")):
        return _feedback(reading)
    found = reports.from_delivery_status(reading)
    if not found and not _reply_subject(reading) and reports.looks_like_bounce(reading):
        found = reports.from_text(reading)
        if not found:
            return MessageDiagnosis(MessageKind.BOUNCE, _original_id(reading))
    if found:
        recipients = tuple(_recipient(reported) for reported in found)
        return MessageDiagnosis(_report_kind(recipients), _original_id(reading), recipients)
    if forwards < MAX_FORWARDS:
        for attached in reading.attached:
            inner = read_parts(attached)
            if inner.delivery_status or inner.feedback:
                return _diagnose(inner, forwards + 1)
    if autoreply.is_auto_reply(reading):
        return MessageDiagnosis(
            MessageKind.AUTO_REPLY,
            _original_id(reading),
            return_date=autoreply.return_date(reading),
        )
    if reading.header("in-reply-to") or reading.header("references") or _reply_subject(reading):
        return MessageDiagnosis(MessageKind.REPLY, _original_id(reading))
    return MessageDiagnosis(MessageKind.OTHER)


def _feedback(reading: Reading) -> MessageDiagnosis:
    name, addresses = reports.feedback_fields(reading.feedback)
    feedback_type = FeedbackType(name) if name in FeedbackType.values else FeedbackType.OTHER
    if not addresses:
        for attached in reading.attached[:1]:
            addresses = [address.lower() for address in reports.addresses(attached.get("to", ""))]
    # The report's own words, for the diagnosis: "This is an email abuse report for…".
    summary = next((text.strip() for text in reading.texts if text.strip()), "")[:300]
    diagnostic = f"Feedback-Type: {name or 'other'}" + (f": {summary}" if summary else "")
    recipients = tuple(
        _recipient(Reported(address, "delivered", None, None, diagnostic))
        for address in dict.fromkeys(addresses)
    )
    return MessageDiagnosis(
        MessageKind.FEEDBACK, _original_id(reading), recipients, feedback_type=feedback_type
    )


def _recipient(reported: Reported) -> Recipient:
    return Recipient(*reported, diagnosis=_weighed(reported))


def _weighed(reported: Reported) -> Diagnosis:
    """The diagnosis of a recipient's text, weighed with the report's fields.

    - The Status field is an RFC 3463 code like the reply's own: when the text has no
      enhanced code (Exim's "Unrouteable address", Postfix's "Host or domain name not
      found"), it is read with the Status, so that the code class or a well-known code still
      decides what the words do not.
    - `Action: delayed` means a server on the way is still trying: nobody has failed yet,
      so whatever the words say ("mailbox is full" in Exim's delay notice), the recipient is
      retried by that server (`auto`, nothing to fix), and a full mailbox is the
      contract's temporary one, `recipient_unavailable`.
    - `Action: failed` means the servers on the way have given up: nothing will resend
      this email by itself, so a diagnosis that says `auto` (a 4xx that lasted until the
      queue lifetime ran out, "connection refused", "mailbox temporarily unavailable") comes
      out as `after_fix`. Not `never`: the address was not refused, only unreachable for a
      while, so the contact is not suppressed on that alone; a person decides, and
      `reschedule` (first among the fixes) is the one click that tries again. The category
      stays, since it still says what went wrong; there is no wait before an automatic
      retry, so no retry_after, and the explanation says that nothing retries it.
    """
    text = reported.diagnostic
    diagnosis = diagnose(text)
    if diagnosis.enhanced_code is None and reported.status:
        diagnosis = dataclasses.replace(diagnose(f"{text} ({reported.status})"), raw=text)
    if reported.action == "delayed" and diagnosis.retry is not Retry.AUTO:
        category = diagnosis.category
        if category is Category.RECIPIENT_MAILBOX_FULL:  # the contract: said temporary
            category = Category.RECIPIENT_UNAVAILABLE
        return dataclasses.replace(
            diagnosis,
            category=category,
            retry=Retry.AUTO,
            retry_after=None,
            fixes=(),
            explanation=_STILL_TRYING.format(title=diagnosis.title),
        )
    if reported.action == "failed" and diagnosis.retry is Retry.AUTO:
        fixes = tuple(dict.fromkeys((Fix.RESCHEDULE, *diagnosis.fixes)))
        diagnosis = dataclasses.replace(
            diagnosis,
            retry=Retry.AFTER_FIX,
            retry_after=None,
            fixes=fixes,
            explanation=_GAVE_UP.format(title=diagnosis.title),
        )
    return diagnosis


def _report_kind(recipients: tuple[Recipient, ...]) -> MessageKind:
    actions = {recipient.action for recipient in recipients}
    if "failed" in actions:
        return MessageKind.BOUNCE
    if "delayed" in actions:
        return MessageKind.DELAY
    return MessageKind.DELIVERED


def _original_id(reading: Reading) -> str | None:
    """The message this one is about: the returned original's Message-ID, then
    In-Reply-To, the last of References, a Message-ID quoted in the text."""
    if reading.returned_ids:
        return reading.returned_ids[0]
    for ids in (
        message_ids(reading.header("in-reply-to")),
        message_ids(reading.header("references"))[::-1],
    ):
        if ids:
            return ids[0]
    return reading.quoted_message_id()


def _reply_subject(reading: Reading) -> bool:
    return bool(_REPLY_PREFIX.match(reading.header("subject")))
