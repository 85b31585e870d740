"""Reading the rep's mailbox over IMAP (a real Dovecot) and applying what each message means.

Emails are sent by the real pipeline in this process (`manage.py dispatch --once`) to the
SMTP sandbox; what comes back is put in the rep's Maildir in the formats real servers
write, and read through Dovecot as production reads Gmail or Microsoft 365.
"""

from __future__ import annotations

import datetime as dt
import imaplib
import itertools

import pytest
from django.core.management import call_command
from django.utils import timezone

from sandboxes import mail_answers
from sequences.forms import MailboxConnectForm
from sequences.models import (
    Contact,
    Enrollment,
    InboundMessage,
    Mailbox,
    MailboxFolder,
    ScheduledEmail,
    Sequence,
)
from sequences.services.inbox import mailbox_read_inbox, mailboxes_to_read
from sequences.services.mailboxes import mailbox_connection_test
from tests.dovecot import Dovecot
from tests.support import send_through, wait_for

pytestmark = pytest.mark.django_db(transaction=True)
Status = ScheduledEmail.Status
_logins = itertools.count()


@pytest.fixture
def outbound(rep, make_sequence, sandbox, dovecot: Dovecot) -> Sequence:
    """A three-step sequence whose mailbox sends through the sandbox and is read from its
    own Dovecot user, signing in with the SMTP password (no IMAP password of its own)."""
    sequence = make_sequence(rep, steps=3)
    login = f"rep{next(_logins)}@example.test"
    dovecot.add_user(login, "s3cret")
    send_through(
        sequence.mailbox_id,
        sandbox,
        imap_host=dovecot.host,
        imap_port=dovecot.port,
        imap_security=Mailbox.Security.NONE,
        imap_username=login,
    )
    sequence.refresh_from_db()
    return sequence


@pytest.fixture
def sent(outbound, make_email):
    """A contact's three steps with the first sent: the second scheduled, the third waiting."""

    def make(address: str = "pat@example.test") -> list[ScheduledEmail]:
        now = timezone.now()
        first = make_email(outbound, email=address, scheduled_for=now, next_attempt_at=now)
        rest = [
            make_email(
                outbound,
                email=address,
                position=position,
                status=Status.WAITING,
                scheduled_for=now,
                next_attempt_at=None,
            )
            for position in (2, 3)
        ]
        call_command("dispatch", "--once", stdout=open("/dev/null", "w"))  # noqa: SIM115
        emails = _reload([first, *rest])
        assert [e.status for e in emails] == [Status.SENT, Status.SCHEDULED, Status.WAITING]
        return emails

    return make


def _reload(emails: list[ScheduledEmail]) -> list[ScheduledEmail]:
    for email in emails:
        email.refresh_from_db()
    return emails


def _login(sequence: Sequence) -> str:
    return Mailbox.objects.get(pk=sequence.mailbox_id).imap_username


def _read(sequence: Sequence):
    return mailbox_read_inbox(mailbox_id=sequence.mailbox_id)


def _bounce(sequence: Sequence, email: ScheduledEmail, **options: object) -> bytes:
    return mail_answers.postfix_report(
        sender=sequence.mailbox.email,
        to=email.contact.email,
        message_id=options.pop("message_id", email.message_id),
        **options,
    )


def _snapshot(sequence: Sequence) -> list[tuple]:
    return [
        *ScheduledEmail.objects.filter(sequence=sequence)
        .order_by("pk")
        .values_list("status", "status_reason", "next_attempt_at"),
        *Contact.objects.order_by("pk").values_list("state", "state_reason"),
        *Enrollment.objects.order_by("pk").values_list("state", "stop_cause"),
    ]


def test_it_bounces_a_sent_email_matched_by_its_message_id(outbound, sent, dovecot):
    first, second, third = sent()
    dovecot.deliver(_login(outbound), _bounce(outbound, first))

    result = _read(outbound)

    assert result.read == 1
    assert result.applied == {"bounce": 1}
    first, second, third = _reload([first, second, third])
    assert first.status == Status.BOUNCED
    assert first.status_reason.startswith("Bounced less than a minute after it was sent: ")
    assert first.error_code == "smtp.5.1.1"
    assert first.contact.state == Contact.State.BOUNCED
    assert first.enrollment.state == Enrollment.State.STOPPED
    assert first.enrollment.stop_cause == Enrollment.StopCause.BOUNCED
    assert (second.status, third.status) == (Status.CANCELLED, Status.CANCELLED)
    inbound = InboundMessage.objects.get()
    assert inbound.email == first
    assert inbound.kind == "bounce"
    # The report's diagnostic text, verbatim, and its machine-readable fields.
    assert inbound.diagnostic == (
        "550 5.1.1 <pat@example.test>: Recipient address rejected: User unknown"
    )
    assert "Action: failed\nStatus: 5.1.1" in inbound.report
    assert inbound.retry == "never"


def test_it_matches_a_bounce_without_message_id_by_its_recipient(outbound, sent, dovecot):
    first, *_ = sent()
    dovecot.deliver(_login(outbound), _bounce(outbound, first, message_id=None))

    _read(outbound)

    first.refresh_from_db()
    assert first.status == Status.BOUNCED
    assert InboundMessage.objects.get().email == first


def test_it_changes_nothing_more_when_read_twice(outbound, sent, dovecot):
    first, *_ = sent()
    dovecot.deliver(_login(outbound), _bounce(outbound, first))
    dovecot.deliver(
        _login(outbound),
        mail_answers.reply(
            sender="pat@example.test", to=outbound.mailbox.email, in_reply_to=first.message_id
        ),
    )
    _read(outbound)
    before = _snapshot(outbound)
    MailboxFolder.objects.update(last_uid=0)  # as if the first read had not been recorded

    again = _read(outbound)

    assert again.read == 2
    assert not again.applied
    assert _snapshot(outbound) == before
    assert InboundMessage.objects.count() == 2


def test_it_applies_nothing_twice_when_the_server_renumbers_a_folder(outbound, sent, dovecot):
    first, *_ = sent()
    login = _login(outbound)
    dovecot.deliver(login, _bounce(outbound, first))
    _read(outbound)
    before, (old_validity,) = (
        _snapshot(outbound),
        MailboxFolder.objects.filter(name="INBOX").values_list("uidvalidity", flat=True),
    )
    dovecot.renumber(login)

    again = _read(outbound)

    folder = MailboxFolder.objects.get(name="INBOX")
    assert folder.uidvalidity != old_validity
    assert folder.last_uid == 1
    assert again.read == 1
    assert not again.applied
    assert _snapshot(outbound) == before
    assert InboundMessage.objects.count() == 1


def test_it_stops_the_enrollment_of_a_contact_who_replied(outbound, sent, dovecot):
    first, second, third = sent()
    dovecot.deliver(
        _login(outbound),
        mail_answers.reply(
            sender="pat@example.test", to=outbound.mailbox.email, in_reply_to=first.message_id
        ),
    )

    _read(outbound)

    first, second, third = _reload([first, second, third])
    assert first.status == Status.REPLIED
    assert first.enrollment.state == Enrollment.State.STOPPED
    assert first.enrollment.stop_cause == Enrollment.StopCause.REPLIED
    assert [(e.status, e.status_reason) for e in (second, third)] == [
        (Status.CANCELLED, "Contact replied")
    ] * 2
    assert first.contact.state == Contact.State.ACTIVE  # a reply is no bounce
    inbound = InboundMessage.objects.get()
    # Its headers and time, never the prospect's words.
    assert "From: Pat Lead <pat@example.test>" in inbound.headers
    assert all(
        "555-0100" not in value
        for value in InboundMessage.objects.values_list(
            "headers", "report", "diagnostic", "outcome"
        ).get()
    )


def test_it_matches_an_unthreaded_reply_by_its_sender(outbound, sent, dovecot):
    first, *_ = sent()
    dovecot.deliver(
        _login(outbound),
        mail_answers.reply(sender="PAT@example.test", to=outbound.mailbox.email, in_reply_to=None),
    )

    _read(outbound)

    first.refresh_from_db()
    assert first.status == Status.REPLIED


def test_it_leaves_the_reps_mailbox_as_it_was(outbound, sent, dovecot):
    first, *_ = sent()
    login = _login(outbound)
    dovecot.deliver(login, _bounce(outbound, first))
    dovecot.deliver(login, b"From: boss@example.test\r\nSubject: lunch?\r\n\r\nnoon\r\n", "Junk")

    _read(outbound)

    client = imaplib.IMAP4(dovecot.host, dovecot.port)
    client.login(login, "s3cret")
    for folder in ("INBOX", "Junk"):
        client.select(folder, readonly=True)
        _, flags = client.uid("FETCH", "1:*", "(FLAGS)")
        assert b"\\Seen" not in flags[0]
        assert b"\\Deleted" not in flags[0]
        assert client.status(folder, "(MESSAGES)")[1][0].endswith(b"(MESSAGES 1)")
    client.logout()
    # Mail that is none of ours is read once, and nothing of it kept but its key.
    other = InboundMessage.objects.get(folder="Junk")
    assert other.kind == "other"
    assert other.headers == ""
    assert other.email is None


def test_it_shows_a_delay_on_the_timeline_only(outbound, sent, dovecot):
    first, second, _ = sent()
    dovecot.deliver(
        _login(outbound),
        _bounce(
            outbound,
            first,
            action="delayed",
            status="4.4.1",
            diagnostic="X-Postfix; connect to mx.example.test[192.0.2.10]:25: Connection refused",
        ),
    )

    _read(outbound)

    first, second = _reload([first, second])
    assert (first.status, second.status) == (Status.SENT, Status.SCHEDULED)
    inbound = InboundMessage.objects.get()
    assert inbound.kind == "delay"
    assert inbound.email == first
    assert "Connection refused" in inbound.diagnostic


def test_it_moves_the_next_step_after_an_out_of_office_return_date(outbound, sent, dovecot):
    first, second, _ = sent()
    back = timezone.now().date() + dt.timedelta(days=6)
    dovecot.deliver(
        _login(outbound),
        mail_answers.out_of_office(
            sender="pat@example.test",
            to=outbound.mailbox.email,
            in_reply_to=first.message_id,
            back=back,
        ),
    )

    _read(outbound)

    first, second = _reload([first, second])
    assert first.status == Status.SENT  # an automatic reply is no reply
    assert second.status == Status.SCHEDULED
    assert second.next_attempt_at.date() == back + dt.timedelta(days=1)
    assert InboundMessage.objects.get().return_date == back


def test_it_moves_the_next_step_at_most_the_setting_out(outbound, sent, dovecot, settings):
    settings.OUT_OF_OFFICE_MAX_DAYS = 10
    first, second, _ = sent()
    dovecot.deliver(
        _login(outbound),
        mail_answers.out_of_office(
            sender="pat@example.test",
            to=outbound.mailbox.email,
            in_reply_to=first.message_id,
            back=timezone.now().date() + dt.timedelta(days=60),
        ),
    )

    _read(outbound)

    second.refresh_from_db()
    assert second.next_attempt_at.date() == (timezone.now() + dt.timedelta(days=10)).date()


def test_it_suppresses_a_contact_who_complained(outbound, sent, dovecot):
    first, second, _ = sent()
    dovecot.deliver(
        _login(outbound),
        mail_answers.complaint(
            complainer="pat@example.test",
            sender=outbound.mailbox.email,
            message_id=first.message_id,
        ),
        "Junk",
    )

    _read(outbound)

    first, second = _reload([first, second])
    assert first.contact.state == Contact.State.SUPPRESSED
    assert first.enrollment.state == Enrollment.State.STOPPED
    assert second.status == Status.CANCELLED


def test_it_pauses_first_steps_past_the_complaint_rate(outbound, sent, dovecot, settings):
    settings.BOUNCE_GUARD_MIN_SENDS = 1
    first, *_ = sent()
    dovecot.deliver(
        _login(outbound),
        mail_answers.complaint(
            complainer="pat@example.test",
            sender=outbound.mailbox.email,
            message_id=first.message_id,
        ),
    )

    _read(outbound)

    outbound.refresh_from_db()
    assert outbound.first_steps_paused_at is not None
    assert "reported as spam" in outbound.first_steps_paused_reason


def test_it_counts_later_bounces_in_the_bounce_rate_guard(outbound, sent, dovecot, settings):
    settings.BOUNCE_GUARD_MIN_SENDS = 1
    first, *_ = sent()
    dovecot.deliver(_login(outbound), _bounce(outbound, first))

    _read(outbound)

    outbound.refresh_from_db()
    assert "1 of the last 1 emails in 24 hours bounced" in outbound.first_steps_paused_reason


def test_it_confirms_an_uncertain_send_found_in_the_sent_folder(
    outbound, make_uncertain_email, sent, dovecot
):
    sent()  # the mailbox has sent: it is read
    uncertain = make_uncertain_email(outbound, email="sam@example.test")
    saved = (
        f"From: {outbound.mailbox.email}\r\nTo: sam@example.test\r\n"
        f"Message-ID: {uncertain.message_id}\r\nSubject: Step 1\r\n\r\nHello\r\n"
    ).encode()
    dovecot.deliver(_login(outbound), saved, "Sent")

    result = _read(outbound)

    uncertain.refresh_from_db()
    assert result.confirmed == 1
    assert uncertain.status == Status.SENT
    assert uncertain.error_code == ""
    assert uncertain.attempts.get().outcome == "sent"


def test_it_holds_the_mailbox_when_imap_refuses_its_sign_in(outbound, sent):
    _, second, _ = sent()
    Mailbox.objects.filter(pk=outbound.mailbox_id).update(imap_username="nobody@example.test")

    _read(outbound)

    mailbox = Mailbox.objects.get(pk=outbound.mailbox_id)
    assert mailbox.state == Mailbox.State.INVALID_CREDENTIALS
    assert "AUTHENTICATIONFAILED" in mailbox.last_error
    second.refresh_from_db()
    assert second.status == Status.BLOCKED


def test_it_reads_only_mailboxes_that_sent_and_have_an_imap_server(outbound, sent, make_mailbox):
    quiet = make_mailbox(outbound.owner, email="quiet@example.test")
    Mailbox.objects.filter(pk=quiet.pk).update(imap_host="127.0.0.1")
    assert mailboxes_to_read() == []
    sent()
    assert mailboxes_to_read() == [outbound.mailbox_id]


def test_it_leaves_a_mailbox_another_reader_holds(outbound, sent):
    sent()
    Mailbox.objects.filter(pk=outbound.mailbox_id).update(
        inbox_lease_until=timezone.now() + dt.timedelta(minutes=1)
    )
    assert _read(outbound) is None


def test_a_worker_reads_every_mailbox_and_the_pages_show_what_came_back(
    outbound, sent, dovecot, workers, client, rep
):
    """The beat's task on a real worker: a bounce and a reply change the Emails tab, the
    email's timeline, the contacts and the Overview; a second read changes nothing more."""
    from django.urls import reverse

    from sequences.tasks import read_inboxes

    bounced, *_ = sent("pat@example.test")
    replied, *_ = sent("lee@example.test")
    login = _login(outbound)
    dovecot.deliver(
        login,
        _bounce(
            outbound,
            bounced,
            at=bounced.sent_at + dt.timedelta(hours=3, seconds=30),
        ),
    )
    dovecot.deliver(
        login,
        mail_answers.reply(
            sender="lee@example.test", to=outbound.mailbox.email, in_reply_to=replied.message_id
        ),
    )
    workers.start("reader")

    read_inboxes.delay()

    wait_for(
        lambda: (
            InboundMessage.objects.count() == 2
            and ScheduledEmail.objects.filter(status=Status.REPLIED).exists()
        ),
        what="the worker's read",
    )
    client.force_login(rep)
    emails_tab = client.get(reverse("sequences:emails", args=[outbound.pk])).content.decode()
    assert "Bounced after sending" in emails_tab
    assert "Bounced 3\xa0hours after it was sent" in emails_tab
    assert "Replied" in emails_tab
    timeline = client.get(
        reverse("sequences:email_timeline", args=[outbound.pk, bounced.pk])
    ).content.decode()
    assert "550 5.1.1 &lt;pat@example.test&gt;: Recipient address rejected" in timeline
    assert "3\xa0hours after it was sent" in timeline
    contacts = client.get(reverse("sequences:contacts", args=[outbound.pk])).content.decode()
    assert "Bounced" in contacts
    assert "Contact replied" in contacts
    overview = client.get(reverse("sequences:overview", args=[outbound.pk])).content.decode()
    assert "<dt>Bounced after sending</dt><dd>1</dd>" in overview
    assert "<dt>Replied</dt><dd>1</dd>" in overview
    before = _snapshot(outbound)

    read_inboxes.delay()

    wait_for(
        lambda: (
            workers.log("reader").count("Task sequences.tasks.read_inbox[") >= 2
            and workers.log("reader").count("succeeded") >= 4
        ),
        what="the second read",
    )
    assert _snapshot(outbound) == before
    assert InboundMessage.objects.count() == 2


def test_it_tests_the_imap_sign_in_with_the_smtp_one(outbound):
    mailbox = Mailbox.objects.get(pk=outbound.mailbox_id)

    test = mailbox_connection_test(mailbox)

    assert test.ok, test.diagnosis
    assert test.passed[-1].startswith(f"Signed in to the IMAP server 127.0.0.1:{mailbox.imap_port}")
    mailbox.imap_password = "wrong"
    refused = mailbox_connection_test(mailbox)
    assert refused.diagnosis.category == "mailbox_connection"
    assert "AUTHENTICATIONFAILED" in refused.diagnosis.raw


def test_it_refuses_an_imap_server_whose_certificate_it_cannot_trust(outbound, sent, dovecot):
    """Implicit TLS, verified: Dovecot's self-signed certificate is a server-settings
    problem of the mailbox, as SMTP's is (tests/sequences/test_postfix_sending.py)."""
    sent()
    Mailbox.objects.filter(pk=outbound.mailbox_id).update(
        imap_port=dovecot.tls_port, imap_security=Mailbox.Security.TLS
    )

    _read(outbound)

    mailbox = Mailbox.objects.get(pk=outbound.mailbox_id)
    assert mailbox.state == Mailbox.State.SYNC_ERROR
    assert mailbox.last_error.startswith("SSLCertVerificationError: ")


@pytest.mark.parametrize(
    ("provider", "host", "spam"),
    [
        ("gmail", "imap.gmail.com", "[Gmail]/Spam"),
        ("microsoft", "outlook.office365.com", "Junk Email"),
    ],
)
def test_the_connect_form_presets_the_providers_imap_server(provider, host, spam):
    form = MailboxConnectForm(initial={"provider": provider})

    assert (form.initial["imap_host"], form.initial["imap_port"]) == (host, 993)
    assert spam in form.initial["imap_folders"]


def test_it_reads_nothing_written_before_the_mailbox_first_sent(outbound, sent, dovecot):
    first, *_ = sent()
    dovecot.deliver(
        _login(outbound),
        mail_answers.reply(
            sender="pat@example.test",
            to=outbound.mailbox.email,
            in_reply_to=first.message_id,
            at=first.sent_at - dt.timedelta(days=3),
        ),
    )

    result = _read(outbound)

    first.refresh_from_db()
    assert result.read == 1
    assert not result.applied
    assert first.status == Status.SENT
    assert not InboundMessage.objects.exists()
