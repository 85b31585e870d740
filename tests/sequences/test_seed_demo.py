from __future__ import annotations

import datetime as dt
import json
import re
import smtplib

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.utils import timezone

from diagnostics.data import SEED_ERRORS_PATH
from diagnostics.diagnosis import diagnose
from diagnostics.vocabulary import Category, Retry
from sandboxes.answers import ANSWER_LATER
from sequences.addresses import recipient
from sequences.demo import ADDRESS, addressed
from sequences.models import (
    Contact,
    Enrollment,
    Mailbox,
    Membership,
    ScheduledEmail,
    SendAttempt,
)
from sequences.services.contacts import BOUNCED
from sequences.services.mailboxes import HOLDABLE
from sequences.services.sending import BACKOFF_BASE_SECONDS, DEFAULT_PAUSE
from sequences.services.smtp import raw_error

SOURCE_ERRORS = SEED_ERRORS_PATH


@pytest.fixture
def seeded(db):
    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115


def _counts() -> dict[str, int]:
    return {
        model.__name__: model.objects.count()
        for model in (Contact, Mailbox, Membership, ScheduledEmail, SendAttempt)
    }


def test_it_shows_every_email_status(seeded):
    present = set(ScheduledEmail.objects.values_list("status", flat=True).distinct())

    assert present == set(ScheduledEmail.Status.values)


def _source_raws() -> list[str]:
    return [json.loads(line)["raw"] for line in SOURCE_ERRORS.read_text().splitlines()]


def _as_seeded(raw: str) -> re.Pattern[str]:
    """The source error as the demo puts it on an email: any address in it, the email's."""
    parts = ADDRESS.split(raw)
    return re.compile(r"(\S+@\S+)".join(re.escape(part) for part in parts))


def test_it_fails_an_email_with_each_source_error(seeded):
    recorded = list(SendAttempt.objects.values_list("raw_error", flat=True))
    on_emails = list(
        ScheduledEmail.objects.exclude(last_error="").values_list("last_error", flat=True)
    )

    for raw in _source_raws():
        pattern = _as_seeded(raw)
        assert any(pattern.fullmatch(text) for text in recorded), raw
        assert any(pattern.fullmatch(text) for text in on_emails), raw


def test_it_has_a_rep_an_admin_and_support_and_a_broken_mailbox(seeded):
    roles = set(Membership.objects.values_list("role", flat=True))

    assert roles == {"rep", "admin", "support"}
    assert Mailbox.objects.filter(state=Mailbox.State.CONNECTED).exists()
    assert Mailbox.objects.filter(state=Mailbox.State.INVALID_CREDENTIALS).exists()


def test_it_does_not_duplicate_when_run_twice(seeded):
    before = _counts()

    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115

    assert _counts() == before


def test_it_scales_with_size(db):
    call_command("seed_demo", size=4000, stdout=open("/dev/null", "w"))  # noqa: SIM115

    assert 3600 <= ScheduledEmail.objects.count() <= 4600


def test_it_prints_the_demo_logins(db, capsys):
    call_command("seed_demo")

    out = capsys.readouterr().out
    assert "rita / rita-demo-2026" in out
    assert "sam / sam-demo-2026" in out


# The stories the demo tells, checked over the whole seeded demo: what a user reads on the
# Emails tab, the Overview, a mailbox's page and support's account page must agree.

Status = ScheduledEmail.Status


def _emails():
    return ScheduledEmail.objects.select_related("contact", "mailbox", "step")


def _attempts(email):
    return list(email.attempts.order_by("number"))


def test_a_refused_sign_in_reads_as_the_pipeline_records_it(seeded):
    refused = raw_error(
        smtplib.SMTPAuthenticationError(535, b"5.7.8 Authentication credentials invalid")
    )
    broken = Mailbox.objects.get(state=Mailbox.State.INVALID_CREDENTIALS)

    assert broken.last_error == refused == "535 5.7.8 Authentication credentials invalid"
    assert broken.last_error_code == diagnose(refused).code
    texts = [
        *Mailbox.objects.values_list("last_error", flat=True),
        *ScheduledEmail.objects.values_list("last_error", flat=True),
        *SendAttempt.objects.values_list("raw_error", flat=True),
    ]
    assert not [t for t in texts if t.startswith("(") and "b'" in t]


def test_emails_held_for_their_mailbox_are_on_a_mailbox_held_for_it(seeded):
    for email in _emails().filter(
        status=Status.BLOCKED, error_category__in=Mailbox.HOLDING_CATEGORIES
    ):
        mailbox = email.mailbox
        diagnosis = diagnose(mailbox.last_error)
        expected_state = (
            Mailbox.State.INVALID_CREDENTIALS
            if diagnosis.category == Category.MAILBOX_CONNECTION
            else Mailbox.State.SYNC_ERROR
        )
        assert mailbox.state == expected_state, (email.last_error, mailbox.email)
        assert (email.last_error, email.error_code) == (mailbox.last_error, mailbox.last_error_code)
        assert email.status_reason == diagnosis.title


def test_a_broken_mailbox_holds_its_pending_emails(seeded):
    for mailbox in Mailbox.objects.exclude(state=Mailbox.State.CONNECTED):
        emails = _emails().filter(mailbox=mailbox)
        assert not emails.filter(status__in=HOLDABLE).exists(), mailbox.email
        assert not emails.filter(sent_at__gt=mailbox.last_checked_at).exists()
        held = emails.filter(status=Status.BLOCKED)
        assert held.exists()
        assert set(held.values_list("last_error", flat=True)) == {mailbox.last_error}
        # Tried once, against the refusal; the others were held without trying.
        tried = SendAttempt.objects.filter(
            email__mailbox=mailbox, started_at__gte=mailbox.last_checked_at
        )
        assert list(tried.values_list("raw_error", flat=True)) == [mailbox.last_error]


def test_a_connected_mailbox_was_resynced_after_each_hold(seeded):
    """A holding refusal on a mailbox that works now was followed by a send that worked."""
    for attempt in SendAttempt.objects.filter(
        category__in=Mailbox.HOLDING_CATEGORIES, mailbox__state=Mailbox.State.CONNECTED
    ).select_related("email"):
        later = attempt.email.attempts.filter(number__gt=attempt.number).order_by("number")
        assert later.filter(outcome=SendAttempt.Outcome.SENT).exists(), attempt.raw_error
        # Held meanwhile: its mailbox tried nothing else.
        during = SendAttempt.objects.filter(
            mailbox=attempt.mailbox_id,
            started_at__gte=attempt.started_at,
            started_at__lt=later.first().started_at,
        )
        assert list(during) == [attempt]


def test_an_address_in_an_error_is_the_contacts_or_the_mailboxs(seeded):
    for email in _emails().exclude(last_error=""):
        for text in [email.last_error, *(a.raw_error for a in _attempts(email))]:
            for address in ADDRESS.findall(text):
                assert address in (email.contact.email, email.mailbox.email), (
                    text,
                    email.contact.email,
                )


def test_each_addressed_source_error_names_its_contact_and_keeps_its_diagnosis(seeded):
    addressed = [raw for raw in _source_raws() if ADDRESS.search(raw)]

    assert addressed
    for raw in addressed:
        pattern = _as_seeded(raw)
        emails = [e for e in _emails().exclude(last_error="") if pattern.fullmatch(e.last_error)]
        assert emails, raw
        for email in emails:
            assert set(pattern.fullmatch(email.last_error).groups()) == {email.contact.email}
            assert email.last_error != raw
            assert diagnose(email.last_error).code == diagnose(raw).code
            assert diagnose(email.last_error).category == diagnose(raw).category


def _unusable(address: str) -> bool:
    """Not one recipient, or one only a server offering SMTPUTF8 takes."""
    try:
        return recipient(address).needs_smtputf8
    except ValidationError:
        return True


def test_an_invalid_address_error_is_only_for_an_unusable_address(seeded):
    refused = _emails().filter(error_category=Category.RECIPIENT_ADDRESS_INVALID)
    tried = SendAttempt.objects.filter(category=Category.RECIPIENT_ADDRESS_INVALID)

    assert refused.exists()
    for email in refused:
        assert _unusable(email.contact.email), (email.last_error, email.contact.email)
    for attempt in tried.select_related("email__contact"):
        assert _unusable(attempt.email.contact.email), attempt.raw_error
    # What refused them refuses the contact's every email, and each mailbox that could not
    # carry a non-ASCII address never carried one.
    contacts = refused.values("contact")
    assert not ScheduledEmail.objects.filter(contact__in=contacts, status=Status.SENT).exists()
    for mailbox in Mailbox.objects.filter(emails__in=refused).distinct():
        sent = _emails().filter(mailbox=mailbox, status=Status.SENT)
        assert not [e.contact.email for e in sent if _unusable(e.contact.email)], mailbox.email


def test_an_emails_error_and_its_diagnosis_agree(seeded):
    for email in _emails().exclude(last_error=""):
        diagnosis = diagnose(email.last_error)
        assert (email.error_code, email.error_category) == (diagnosis.code, diagnosis.category)
        failures = [a for a in _attempts(email) if a.outcome != SendAttempt.Outcome.SENT]
        if failures:
            assert failures[-1].raw_error == email.last_error
        elif email.status == Status.BOUNCED:  # sent, then its bounce was read
            assert email.inbound.filter(kind="bounce", diagnostic=email.last_error).exists()
        else:  # held by its broken mailbox without being tried
            assert email.status == Status.BLOCKED
            assert email.last_error == email.mailbox.last_error


def test_an_address_in_a_reply_becomes_the_emails_own():
    raw = "550 5.7.1 MAIL FROM:<ann@old.test> refused for <bob@example.com>: User unknown"

    assert addressed(raw, "zoé@x.test", "rita@acme.test") == (
        "550 5.7.1 MAIL FROM:<rita@acme.test> refused for <zoé@x.test>: User unknown"
    )


def test_each_status_has_the_history_that_explains_it(db):
    seeded_at = timezone.now()
    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    for email in _emails():
        attempts = _attempts(email)
        assert email.attempt_count == len(attempts), email.pk
        if email.status == Status.SENT:
            assert email.message_id
            assert email.sent_at
            assert attempts[-1].outcome == SendAttempt.Outcome.SENT
            assert attempts[-1].message_id == email.message_id
            # A refusal never comes before a send: only what a retry or a fix undid.
            assert all(diagnose(a.raw_error).retry != Retry.NEVER for a in attempts[:-1])
        elif email.status == Status.RETRYING:
            diagnosis = diagnose(email.last_error)
            assert diagnosis.retry == Retry.AUTO
            # Its next try as the backoff puts it after its last (a provider's "retry
            # after" is read as of the diagnosis: a minute's leeway), and still ahead.
            wait = diagnosis.retry_after or DEFAULT_PAUSE.get(diagnosis.category, 0)
            delay = (email.next_attempt_at - attempts[-1].finished_at).total_seconds()
            assert 0 < delay <= max(wait, BACKOFF_BASE_SECONDS) + 60, email.last_error
            assert email.next_attempt_at > seeded_at
        elif email.status == Status.FAILED:
            assert email.contact.state == Contact.State.BOUNCED or email.status_reason.startswith(
                "Gave up"
            )
        elif email.status == Status.BLOCKED:
            assert email.next_attempt_at is None
            assert email.status_reason
            if email.error_code == ScheduledEmail.DELIVERY_UNCERTAIN:
                assert email.message_id
        elif email.status == Status.SENDING:
            assert email.claimed_at
            assert email.mailbox.state == Mailbox.State.CONNECTED
        elif email.status in (Status.SCHEDULED, Status.WAITING, Status.CANCELLED):
            assert not attempts or email.status == Status.SCHEDULED


def test_no_email_is_due_before_its_contact_was_enrolled(seeded):
    for email in _emails().select_related("enrollment"):
        assert email.scheduled_for >= email.enrollment.enrolled_at


def test_a_follow_up_waits_for_its_step_and_goes_once_it_is_sent(seeded):
    by_step = {(e.enrollment_id, e.step.position): e for e in _emails()}
    for (enrollment, position), email in by_step.items():
        previous = by_step.get((enrollment, position - 1))
        if previous is None:
            assert email.status != Status.WAITING
        elif email.attempt_count or email.status in (Status.SCHEDULED, Status.SENDING):
            # Tried, or due: only once the step before it was sent (and maybe answered or
            # returned since).
            assert previous.sent_at is not None, (email.status, previous.status)
        elif email.status == Status.WAITING:
            assert previous.sent_at is None


def test_a_stopped_contact_has_nothing_pending_and_each_cancellation_is_true(seeded):
    for contact in Contact.objects.exclude(state=Contact.State.ACTIVE):
        assert not contact.emails.filter(status__in=ScheduledEmail.PENDING_STATUSES).exists()
    for email in _emails().filter(status=Status.CANCELLED):
        contact = email.contact
        if email.status_reason == BOUNCED:
            assert contact.state == Contact.State.BOUNCED
            assert contact.emails.filter(
                status__in=[Status.FAILED, Status.BOUNCED], step__position__lt=email.step.position
            ).exists()
        elif email.status_reason == "Contact replied":
            assert email.enrollment.stop_cause == "replied"
            assert email.enrollment.emails.filter(status=Status.REPLIED).exists()
        else:
            assert email.status_reason == "Contact unsubscribed", email.status_reason
            assert contact.state == Contact.State.UNSUBSCRIBED
            # They replied "unsubscribe" to an email they had been sent.
            assert contact.emails.filter(
                status=Status.SENT, step__position__lt=email.step.position
            ).exists()
    for contact in Contact.objects.filter(state=Contact.State.UNSUBSCRIBED):
        assert contact.emails.filter(status=Status.SENT).exists()


def test_an_enrollment_is_finished_once_its_last_email_went_out(seeded):
    left = [*ScheduledEmail.PENDING_STATUSES, Status.BLOCKED]
    for enrollment in Enrollment.objects.all():
        pending = enrollment.emails.filter(status__in=left).exists()
        if enrollment.state == Enrollment.State.ACTIVE:
            assert pending, enrollment.pk
        elif enrollment.state == Enrollment.State.FINISHED:
            assert not pending
            assert not enrollment.emails.exclude(status=Status.SENT).exists()


def test_it_first_sends_to_each_domain_that_answers_later(seeded):
    soon = timezone.now() + dt.timedelta(minutes=5)
    for domain in ANSWER_LATER:
        (contact,) = Contact.objects.filter(email__endswith=f"@{domain}")
        first = contact.emails.get(step__position=1)

        assert first.status == ScheduledEmail.Status.SCHEDULED
        assert first.mailbox.state == Mailbox.State.CONNECTED
        assert first.next_attempt_at <= soon
