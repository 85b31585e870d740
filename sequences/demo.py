"""The demo: a believable account with emails in every status and every known error.

Everything is derived from a fixed random seed and natural keys, and rows are inserted
with `ignore_conflicts` against the models' unique constraints, so running the seed
again adds nothing (and `--size` larger than before only adds the difference).
"""

from __future__ import annotations

import datetime as dt
import json
import random
import re
import smtplib
from dataclasses import dataclass, field

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from diagnostics.data import SEED_ERRORS_PATH
from diagnostics.diagnosis import Diagnosis, diagnose
from diagnostics.vocabulary import Category, Retry
from sandboxes import mail_answers
from sequences.addresses import recipient, smtputf8_refusal
from sequences.models import (
    Contact,
    Enrollment,
    InboundMessage,
    Mailbox,
    Membership,
    Organization,
    ScheduledEmail,
    SendAttempt,
    Sequence,
    Step,
)
from sequences.services.contacts import (
    BOUNCED,
    contact_bounce,
    contact_normalize_email,
    contacts_unsubscribe,
)
from sequences.services.emails import enrollments_finish
from sequences.services.inbox import messages_apply
from sequences.services.mailboxes import HOLDABLE, mailbox_mark_broken
from sequences.services.sending import BACKOFF_BASE_SECONDS, DEFAULT_PAUSE
from sequences.services.smtp import raw_error

# The broken mailbox's sign-in refusal, in the words the pipeline records a server's.
BROKEN_MAILBOX_ERROR = raw_error(
    smtplib.SMTPAuthenticationError(535, b"5.7.8 Authentication credentials invalid")
)
DEFAULT_SIZE = 1200
BATCH = 2000
# An address in an error's text (without the brackets or quotes around it).
ADDRESS = re.compile(r"[^\s<>():,;\"']+@[^\s<>():,;\"']+")
# What comes right before the sender's address in a server's reply ("MAIL FROM:<…>").
SENDER_CUE = re.compile(r"(from|sender)\W*$", re.IGNORECASE)
# A mailbox held for a refusal about itself was resynchronized this long after. These
# holds are past, one every HOLD_EVERY from HOLDS_SINCE ago: before anything else was sent,
# so that no other email was tried while one lasted.
RESYNC_AFTER = dt.timedelta(minutes=20)
HOLD_EVERY = dt.timedelta(minutes=30)
HOLDS_SINCE = dt.timedelta(days=26)
# How long ago the emails now retrying were tried.
RETRIED_AGO = dt.timedelta(seconds=30)

FIRST_NAMES = (
    "Olivia Liam Emma Noah Amelia Oliver Sophia Elijah Charlotte James Ava Lucas Mia Mateo "
    "Isabella Theo Léa Hugo Chloé Louis Camille Jules Sofia Leon Hannah Felix Marta Pablo "
    "Aisha Omar Priya Arjun Mei Hiroshi Yuki Chen Ana João Ingrid Lars Fatima Tomás Zoe Ethan "
    "Grace Daniel Nora Samuel Ruth Victor Clara Anton Ines Marco Giulia Kwame Ama Sipho Thandi"
).split()
LAST_NAMES = (
    "Smith Johnson Williams Brown Garcia Miller Davis Martin Bernard Dubois Moreau Laurent "
    "Müller Schmidt Schneider Fischer Rossi Russo Ferrari Silva Santos Oliveira Kowalski "
    "Nowak Novak Jensen Hansen Larsen Nguyen Tran Kim Park Tanaka Suzuki Sato Patel Shah "
    "Singh Khan Ali Mensah Okafor Adeyemi Cohen Levi Andersson Johansson Costa Murphy Kelly "
    "O'Brien Walsh Byrne Fernández López Martínez Romero Navarro Wright Clarke"
).split()
COMPANIES = (
    ("Northwind Traders", "northwind.test"),
    ("Contoso Pharma", "contoso.test"),
    ("Fabrikam Industries", "fabrikam.test"),
    ("Tailspin Toys", "tailspin.test"),
    ("Wide World Importers", "wideworld.test"),
    ("Litware Software", "litware.test"),
    ("Proseware Labs", "proseware.test"),
    ("Adatum Finance", "adatum.test"),
    ("Woodgrove Bank", "woodgrove.test"),
    ("Blue Yonder Airlines", "blueyonder.test"),
    ("Coho Winery", "coho.test"),
    ("Fourth Coffee", "fourthcoffee.test"),
    ("Lucerne Publishing", "lucerne.test"),
    ("Margie's Travel", "margiestravel.test"),
    ("Alpine Ski House", "alpineski.test"),
    ("Trey Research", "treyresearch.test"),
)
JOB_TITLES = (
    "VP Sales",
    "Head of Revenue Operations",
    "Sales Director",
    "Chief Revenue Officer",
    "Marketing Manager",
    "Head of Growth",
    "IT Director",
    "Procurement Lead",
)
TIME_ZONES = ("Europe/Paris", "Europe/London", "America/New_York", "America/Chicago", "UTC")
# Recipients whose domains the SMTP sandbox answers with a provider's real failure, or
# accepts and answers later in the sender's own mailbox (a bounce, a reply, an
# out-of-office, a complaint: sandboxes/answers.py).
SANDBOX_RECIPIENTS = (
    ("Uma", "Unknown", "unknown.test"),
    ("Ines", "Inactive", "inactive.test"),
    ("Fred", "Full", "full.test"),
    ("Alex", "Away", "away.test"),
    ("Bea", "Busy", "busy.test"),
    ("Blake", "Blocked", "blocked.test"),
    ("Bruno", "Later", "bounce-later.test"),
    ("Rae", "Replies", "replies.test"),
    ("Olive", "Office", "ooo.test"),
    ("Cora", "Complains", "complains.test"),
)
# Recipients with non-ASCII characters before the @-sign, which only a server offering
# SMTPUTF8 takes: the contacts of the source errors about an unusable address.
NON_ASCII_RECIPIENTS = (
    ("José", "Núñez", "Northwind Traders", "northwind.test"),
    ("Zoë", "Lefèvre", "Contoso Pharma", "contoso.test"),
    ("Søren", "Ågård", "Fabrikam Industries", "fabrikam.test"),
    ("Björn", "Öberg", "Tailspin Toys", "tailspin.test"),
    ("Inês", "Gonçalves", "Litware Software", "litware.test"),
    ("Łukasz", "Wójcik", "Proseware Labs", "proseware.test"),
)

STEP_TEMPLATES = (
    (
        0,
        "Quick question about {{ company }}",
        "Hi {{ first_name }},\n\nI noticed {{ company }} is growing its sales team. "
        "Teams like yours use us to see every email that fails and fix it in one click.\n\n"
        "Worth a 15-minute call next week?\n",
    ),
    (
        3,
        "Re: Quick question about {{ company }}",
        "Hi {{ first_name }},\n\nFollowing up on my note: would a short demo help?\n",
    ),
    (
        4,
        "A case study for {{ company }}",
        "Hi {{ first_name }},\n\nHere is how a team of 40 reps cut bounced emails by 80%.\n",
    ),
    (
        7,
        "Should I close your file?",
        "Hi {{ first_name }},\n\nI haven't heard back, so I'll assume now isn't the right time.\n",
    ),
)


@dataclass(frozen=True)
class UserSpec:
    username: str
    first_name: str
    last_name: str
    role: str
    password: str


@dataclass(frozen=True)
class MailboxSpec:
    email: str
    owner: str
    provider: str
    password: str
    # Its sign-in refused since three days: the demo of a broken mailbox and its fix.
    broken: bool = False
    # Whether its server offers SMTPUTF8 (RFC 6531), which a non-ASCII address needs.
    smtputf8: bool = True


@dataclass(frozen=True)
class SequenceSpec:
    name: str
    owner: str
    mailbox: str
    steps: int
    # Share of the organization's contacts enrolled here (weights, not percentages).
    weight: int


@dataclass(frozen=True)
class OrganizationSpec:
    name: str
    slug: str
    users: tuple[UserSpec, ...]
    mailboxes: tuple[MailboxSpec, ...]
    sequences: tuple[SequenceSpec, ...]
    # The share of --size this organization gets.
    share: float
    with_source_errors: bool = False


ACME = OrganizationSpec(
    name="Acme Analytics",
    slug="acme",
    users=(
        UserSpec("rita", "Rita", "Alvarez", Membership.Role.REP, "rita-demo-2026"),
        UserSpec("adam", "Adam", "Chen", Membership.Role.ADMIN, "adam-demo-2026"),
    ),
    mailboxes=(
        MailboxSpec("rita@acme.test", "rita", Mailbox.Provider.GMAIL, "rita-app-password-demo"),
        MailboxSpec(
            "adam@acme.test",
            "adam",
            Mailbox.Provider.MICROSOFT,
            "wrong",
            broken=True,
        ),
        MailboxSpec(
            "team@acme.test",
            "adam",
            Mailbox.Provider.SMTP,
            "team-app-password-demo",
            smtputf8=False,
        ),
    ),
    sequences=(
        SequenceSpec("Q4 Outbound: VP Sales", "rita", "rita@acme.test", 4, 5),
        SequenceSpec("Webinar follow-up", "rita", "rita@acme.test", 3, 3),
        SequenceSpec("Re-engage closed-lost", "adam", "adam@acme.test", 3, 2),
        SequenceSpec("Partner newsletter", "adam", "team@acme.test", 2, 2),
    ),
    share=0.92,
    with_source_errors=True,
)
GLOBEX = OrganizationSpec(
    name="Globex Logistics",
    slug="globex",
    users=(UserSpec("gina", "Gina", "Rossi", Membership.Role.ADMIN, "gina-demo-2026"),),
    mailboxes=(MailboxSpec("gina@globex.test", "gina", Mailbox.Provider.MICROSOFT, "gina-pw"),),
    sequences=(SequenceSpec("Freight buyers EMEA", "gina", "gina@globex.test", 3, 1),),
    share=0.08,
)
SUPPORT_USER = UserSpec("sam", "Sam", "Okafor", Membership.Role.SUPPORT, "sam-demo-2026")


@dataclass
class DemoSummary:
    organizations: list[str] = field(default_factory=list)
    logins: list[tuple[str, str, str]] = field(default_factory=list)
    emails_by_status: dict[str, int] = field(default_factory=dict)


def load_source_errors() -> list[dict[str, object]]:
    with SEED_ERRORS_PATH.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def seed_demo(*, size: int = DEFAULT_SIZE, now: dt.datetime | None = None) -> DemoSummary:
    """Create (or complete) the demo accounts with about `size` scheduled emails."""
    now = now or timezone.now()
    summary = DemoSummary()
    with transaction.atomic():
        _ensure_user(SUPPORT_USER, organization=None)
        summary.logins.append((SUPPORT_USER.username, SUPPORT_USER.password, "support"))
        for spec in (ACME, GLOBEX):
            _seed_organization(spec, size=max(60, round(size * spec.share)), now=now)
            summary.organizations.append(spec.name)
            summary.logins += [
                (u.username, u.password, f"{u.role}, {spec.name}") for u in spec.users
            ]
    for status in ScheduledEmail.Status.values:
        summary.emails_by_status[status] = ScheduledEmail.objects.filter(status=status).count()
    return summary


def _ensure_user(spec: UserSpec, *, organization: Organization | None) -> AbstractBaseUser:
    user, created = get_user_model().objects.get_or_create(
        username=spec.username,
        defaults={
            "first_name": spec.first_name,
            "last_name": spec.last_name,
            "email": f"{spec.username}@{organization.slug if organization else 'vendor'}.test",
        },
    )
    if created:
        user.set_password(spec.password)
        user.save(update_fields=["password"])
    Membership.objects.get_or_create(
        user=user, defaults={"organization": organization, "role": spec.role}
    )
    return user


def _seed_organization(spec: OrganizationSpec, *, size: int, now: dt.datetime) -> None:
    organization, _ = Organization.objects.get_or_create(
        slug=spec.slug, defaults={"name": spec.name}
    )
    users = {u.username: _ensure_user(u, organization=organization) for u in spec.users}
    mailboxes = {m.email: _ensure_mailbox(m, organization, users, now) for m in spec.mailboxes}
    sequences = [_ensure_sequence(s, organization, users, mailboxes) for s in spec.sequences]
    plan = _EmailPlan(spec, organization, sequences, size=size, now=now)
    plan.build()


def _ensure_mailbox(
    spec: MailboxSpec, organization: Organization, users: dict, now: dt.datetime
) -> Mailbox:
    mailbox = Mailbox.objects.filter(organization=organization, email=spec.email).first()
    if mailbox is not None:
        return mailbox
    mailbox = Mailbox(
        organization=organization,
        owner=users[spec.owner],
        email=spec.email,
        display_name=users[spec.owner].get_full_name(),
        provider=spec.provider,
        smtp_host=settings.SMTP_SANDBOX_HOST,
        smtp_port=settings.SMTP_SANDBOX_PORT,
        smtp_security=Mailbox.Security.NONE,
        smtp_username=spec.email,
        # Read by the inbox reader from the IMAP sandbox, where the SMTP sandbox's later
        # answers (bounces, replies, out-of-office, complaints) land.
        imap_host=settings.SMTP_SANDBOX_HOST,
        imap_port=settings.IMAP_SANDBOX_PORT,
        imap_security=Mailbox.Security.NONE,
        imap_folders="INBOX",
        imap_sent_folder="",
        last_checked_at=now,
        per_minute_limit=30 if spec.provider == Mailbox.Provider.MICROSOFT else 60,
        daily_limit=10_000 if spec.provider == Mailbox.Provider.MICROSOFT else 2_000,
        time_zone="Europe/Paris",
        # The demo sends at any hour so that a newcomer sees it work whenever they try.
        sending_days="1234567",
        window_start=dt.time(0, 0),
        window_end=dt.time(23, 59),
    )
    mailbox.password = spec.password
    mailbox.save()
    if spec.broken:
        mailbox_mark_broken(
            mailbox_id=mailbox.pk,
            diagnosis=diagnose(BROKEN_MAILBOX_ERROR),
            now=now - dt.timedelta(days=3),
        )
        mailbox.refresh_from_db()
    return mailbox


def _ensure_sequence(
    spec: SequenceSpec, organization: Organization, users: dict, mailboxes: dict
) -> Sequence:
    sequence, _ = Sequence.objects.get_or_create(
        organization=organization,
        name=spec.name,
        defaults={"owner": users[spec.owner], "mailbox": mailboxes[spec.mailbox]},
    )
    Step.objects.bulk_create(
        [
            Step(sequence=sequence, position=i, wait_days=wait, subject=subject, body=body)
            for i, (wait, subject, body) in enumerate(STEP_TEMPLATES[: spec.steps], start=1)
        ],
        ignore_conflicts=True,
    )
    return sequence


class _EmailPlan:
    """Contacts, enrollments, emails and attempts of one organization, in bulk."""

    def __init__(
        self,
        spec: OrganizationSpec,
        organization: Organization,
        sequences: list[Sequence],
        *,
        size: int,
        now: dt.datetime,
    ) -> None:
        self.spec = spec
        self.organization = organization
        self.sequences = sequences
        self.steps = {s.pk: list(s.steps.order_by("position")) for s in sequences}
        self.size = size
        self.now = now
        self.rng = random.Random(f"demo-{spec.slug}")
        self.errors = load_source_errors() if spec.with_source_errors else []
        # Two emails are shown mid-send, so the demo has that status too.
        self.sending_left = 2
        self.without_smtputf8 = {m.email for m in spec.mailboxes if not m.smtputf8}
        # The broken mailboxes whose refusing send is in this plan (one each).
        self.tried: set[int] = set()

    def build(self) -> None:
        enrollments = self._enrollments(self._contacts())
        self._emails(enrollments)

    def _contacts(self) -> list[Contact]:
        weights = [s.weight for s in self.spec.sequences]
        steps_per_contact = sum(
            w * s.steps for w, s in zip(weights, self.spec.sequences, strict=True)
        ) / sum(weights)
        # Enough contacts for every source error to have its own, whatever the size.
        count = max(40, 2 * len(self.errors), round(self.size / steps_per_contact))
        contacts = []
        for i in range(count):
            first, last = self.rng.choice(FIRST_NAMES), self.rng.choice(LAST_NAMES)
            company, domain = self.rng.choice(COMPANIES)
            local = f"{first}.{last}".lower().replace("'", "")
            contacts.append(
                Contact(
                    organization=self.organization,
                    # The one address rule, as every way in applies it (accents are fine).
                    email=contact_normalize_email(
                        f"{local}.{i}@{domain}" if i >= len(COMPANIES) else f"{local}@{domain}"
                    ),
                    first_name=first,
                    last_name=last,
                    company=company,
                    job_title=self.rng.choice(JOB_TITLES),
                    time_zone=self.rng.choice(TIME_ZONES),
                )
            )
        if self.spec.with_source_errors:
            contacts += [
                Contact(
                    organization=self.organization,
                    email=contact_normalize_email(f"{first.lower()}@{domain}"),
                    first_name=first,
                    last_name=last,
                    company=f"Sandbox ({domain})",
                )
                for first, last, domain in SANDBOX_RECIPIENTS
            ]
            contacts += [
                Contact(
                    organization=self.organization,
                    email=contact_normalize_email(f"{first}.{last}@{domain}".lower()),
                    first_name=first,
                    last_name=last,
                    company=company,
                    job_title=self.rng.choice(JOB_TITLES),
                )
                for first, last, company, domain in NON_ASCII_RECIPIENTS
            ]
        Contact.objects.bulk_create(contacts, batch_size=BATCH, ignore_conflicts=True)
        by_email = {
            c.email: c
            for c in Contact.objects.filter(
                organization=self.organization, email__in=[c.email for c in contacts]
            )
        }
        return [by_email[c.email] for c in contacts]

    def _enrollments(self, contacts: list[Contact]) -> list[Enrollment]:
        pool = [
            sequence
            for sequence, spec in zip(self.sequences, self.spec.sequences, strict=True)
            for _ in range(spec.weight)
        ]
        # The non-ASCII recipients go where their address is refused: a mailbox whose
        # server cannot carry it.
        refusing = [s for s in self.sequences if s.mailbox.email in self.without_smtputf8]
        non_ascii = {
            contact_normalize_email(f"{first}.{last}@{domain}".lower())
            for first, last, _, domain in NON_ASCII_RECIPIENTS
        }
        enrollments = []
        for i, contact in enumerate(contacts):
            sandbox = contact.company.startswith("Sandbox")
            if sandbox:
                sequence = self.sequences[0]
            elif contact.email in non_ascii and refusing:
                sequence = refusing[0]
            else:
                sequence = pool[i % len(pool)]
            enrollments.append(
                Enrollment(
                    sequence=sequence,
                    contact=contact,
                    # Sandbox recipients start in a minute: the first thing the demo sends.
                    enrolled_at=self.now + dt.timedelta(minutes=1)
                    if sandbox
                    else self.now - dt.timedelta(hours=self.rng.uniform(-72, 24 * 25)),
                )
            )
        Enrollment.objects.bulk_create(enrollments, batch_size=BATCH, ignore_conflicts=True)
        stored = {
            e.contact_id: e
            for e in Enrollment.objects.filter(sequence__in=self.sequences).select_related(
                "contact", "sequence__mailbox"
            )
        }
        return [stored[e.contact.pk] for e in enrollments if e.contact.pk in stored]

    def _emails(self, enrollments: list[Enrollment]) -> None:
        errored = self._errored(enrollments)
        emails, attempts, unsubscribed, holds = [], [], set(), 0
        for index, enrollment in enumerate(enrollments):
            diagnosis = errored.get(enrollment.pk)
            if diagnosis is not None and diagnosis.category in Mailbox.HOLDING_CATEGORIES:
                enrollment.enrolled_at = self.now - HOLDS_SINCE + holds * HOLD_EVERY
                holds += 1
            elif diagnosis is not None and diagnosis.retry == Retry.AUTO:
                # Tried just now, its next try still ahead.
                enrollment.enrolled_at = self.now - RETRIED_AGO + dt.timedelta(seconds=index % 20)
            elif diagnosis is not None:
                # A few hours ago, so that later steps are still ahead.
                enrollment.enrolled_at = self.now - dt.timedelta(hours=2, minutes=index)
            # They answer the first email with "unsubscribe", once they have it.
            replies = index % 37 == 36 and diagnosis is None
            built = self._enrollment_emails(enrollment, diagnosis, unsubscribed=replies)
            if replies and built[0].status == ScheduledEmail.Status.SENT:
                unsubscribed.add(enrollment.pk)
            emails += built
        created = {
            (e.enrollment_id, e.step_id)
            for e in ScheduledEmail.objects.filter(sequence__in=self.sequences).only(
                "enrollment_id", "step_id"
            )
        }
        new = [e for e in emails if (e.enrollment_id, e.step_id) not in created]
        started = {enrollment_id for enrollment_id, _ in created}
        Enrollment.objects.bulk_update(
            [e for e in enrollments if e.pk in errored and e.pk not in started], ["enrolled_at"]
        )
        ScheduledEmail.objects.bulk_create(new, batch_size=BATCH, ignore_conflicts=True)
        stored = {
            (e.enrollment_id, e.step_id): e
            for e in ScheduledEmail.objects.filter(sequence__in=self.sequences)
        }
        for email in new:
            attempts += _attempts_for(stored[(email.enrollment_id, email.step_id)])
        SendAttempt.objects.bulk_create(attempts, batch_size=BATCH, ignore_conflicts=True)
        self._apply_outcomes(enrollments, errored, unsubscribed)

    def _errored(self, enrollments: list[Enrollment]) -> dict[int, Diagnosis]:
        """Each source error on its own enrollment, of a working mailbox, whose contact it
        is true of: an unusable address only for one its mailbox cannot carry; the
        addresses in it, the email's."""
        free = [
            e
            for e in enrollments
            if e.sequence.mailbox.state == Mailbox.State.CONNECTED
            and not e.contact.company.startswith("Sandbox")
        ]
        errored = {}
        for error in self.errors:
            about_address = diagnose(error["raw"]).category == Category.RECIPIENT_ADDRESS_INVALID
            enrollment = next(e for e in free if self._refuses_address(e) == about_address)
            free.remove(enrollment)
            errored[enrollment.pk] = diagnose(
                addressed(error["raw"], enrollment.contact.email, enrollment.sequence.mailbox.email)
            )
        return errored

    def _refuses_address(self, enrollment: Enrollment) -> bool:
        """Whether the enrollment's mailbox cannot send to its contact's address."""
        return enrollment.sequence.mailbox.email in self.without_smtputf8 and (
            recipient(enrollment.contact.email).needs_smtputf8
        )

    def _enrollment_emails(
        self, enrollment: Enrollment, diagnosis: Diagnosis | None, *, unsubscribed: bool
    ) -> list[ScheduledEmail]:
        contact, sequence = enrollment.contact, enrollment.sequence
        mailbox = sequence.mailbox
        held_since = mailbox.last_checked_at if mailbox.state != Mailbox.State.CONNECTED else None
        emails, when, stopped = [], enrollment.enrolled_at, None
        for step in self.steps[sequence.pk]:
            # Real send times spread over the hour; the first step of the sandbox and of the
            # source errors goes on time.
            on_time = contact.company.startswith("Sandbox") or diagnosis is not None
            spread = 0 if step.position == 1 and on_time else 90
            when += dt.timedelta(days=step.wait_days, minutes=self.rng.randint(0, spread))
            email = ScheduledEmail(
                enrollment=enrollment,
                step=step,
                sequence=sequence,
                contact=contact,
                mailbox=sequence.mailbox,
                scheduled_for=when,
                next_attempt_at=when,
            )
            previous_sent = not emails or emails[-1].status == ScheduledEmail.Status.SENT
            if stopped:
                _cancel(email, stopped)
            elif unsubscribed and emails and emails[0].status == ScheduledEmail.Status.SENT:
                # They answered the first email with "unsubscribe".
                _cancel(email, "Contact unsubscribed")
            elif step.position == 1 and diagnosis is not None:
                _fail(email, diagnosis)
                if diagnosis.category in Mailbox.HOLDING_CATEGORIES:
                    # Its mailbox held everything; resynchronized, it sent this one.
                    _sent(email, self.organization.slug, self.now, after=RESYNC_AFTER)
                elif diagnosis.retry == Retry.NEVER:
                    stopped = BOUNCED
            elif held_since is not None and when > held_since:
                pass  # held below, unless it waits for its step
            elif when > self.now:
                if self.sending_left and step.position == 1:
                    self.sending_left -= 1
                    email.status, email.next_attempt_at = ScheduledEmail.Status.SENDING, None
                    email.claimed_at = self.now
            elif not previous_sent:
                pass  # waits below
            elif self._refuses_address(enrollment):
                _fail(email, diagnose(smtputf8_refusal(contact.email)))
            else:
                _sent(email, self.organization.slug, self.now)
            if email.status in ScheduledEmail.DUE_STATUSES and not previous_sent:
                # As the pipeline keeps it: a follow-up waits for its step to be sent.
                email.status, email.next_attempt_at = ScheduledEmail.Status.WAITING, None
            elif held_since is not None and email.status in HOLDABLE:
                self._hold(email, held_since)
            emails.append(email)
        return emails

    def _hold(self, email: ScheduledEmail, held_since: dt.datetime) -> None:
        """As `mailbox_hold` leaves an email of a broken mailbox: the first one due was
        tried and refused, which held the others without trying them."""
        held = diagnose(email.mailbox.last_error)
        due = email.scheduled_for <= self.now and email.enrollment.enrolled_at <= held_since
        if due and email.mailbox_id not in self.tried:
            self.tried.add(email.mailbox_id)
            email.scheduled_for = email.next_attempt_at = held_since
            _fail(email, held)
        else:
            _refused(email, held, ScheduledEmail.Status.BLOCKED)

    def _apply_outcomes(
        self, enrollments: list[Enrollment], errored: dict[int, Diagnosis], unsubscribed: set[int]
    ) -> None:
        """Contacts and enrollments follow what their emails say, as the pipeline would."""
        for enrollment in enrollments:
            diagnosis = errored.get(enrollment.pk)
            if diagnosis is not None and diagnosis.retry == Retry.NEVER:
                contact_bounce(contact_id=enrollment.contact_id, diagnosis=diagnosis)
        contacts_unsubscribe(
            contacts=Contact.objects.filter(enrollments__in=unsubscribed),
            reason="Replied “unsubscribe”",
        )
        enrollments_finish(Enrollment.objects.filter(sequence__in=self.sequences))
        self._inbox_stories()

    def _inbox_stories(self) -> None:
        """What the mailbox told later, read as the inbox reader reads it: a first email that
        bounced two hours after it was sent, another that was answered. Once (reseeded,
        the stories are there already)."""
        sent = (
            ScheduledEmail.objects.filter(
                sequence__in=self.sequences,
                mailbox__state=Mailbox.State.CONNECTED,
                status=ScheduledEmail.Status.SENT,
                step__position=1,
                enrollment__state=Enrollment.State.ACTIVE,
            )
            .select_related("contact", "mailbox")
            .order_by("sent_at", "pk")
        )
        if InboundMessage.objects.filter(email__sequence__in=self.sequences).exists():
            return
        # Addresses in ASCII: Postfix writes its reports in 8-bit otherwise.
        chosen = [email for email in sent[:50] if email.contact.email.isascii()][3:5]
        for email, story in zip(chosen, ("bounce", "reply"), strict=False):
            at = min(email.sent_at + dt.timedelta(hours=2), self.now)
            rep, lead = email.mailbox.email, email.contact.email
            raw = (
                mail_answers.postfix_report(sender=rep, to=lead, message_id=email.message_id, at=at)
                if story == "bounce"
                else mail_answers.reply(sender=lead, to=rep, in_reply_to=email.message_id, at=at)
            )
            messages_apply(
                mailbox=email.mailbox, folder="INBOX", messages=[(1, raw)], since=email.sent_at
            )


def addressed(raw: str, contact_address: str, mailbox_address: str) -> str:
    """The error as this email would have had it: each address in it the recipient's, or
    the mailbox's where the reply names the sender."""
    return ADDRESS.sub(
        lambda found: (
            mailbox_address if SENDER_CUE.search(raw, 0, found.start()) else contact_address
        ),
        raw,
    )


def _sent(
    email: ScheduledEmail, slug: str, now: dt.datetime, *, after: dt.timedelta = dt.timedelta()
) -> None:
    """Accepted by the server (`after` its time, when it took a fix first)."""
    email.status = ScheduledEmail.Status.SENT
    email.status_reason = ""
    email.next_attempt_at = None
    email.attempt_count += 1
    email.sent_at = min(email.scheduled_for + after + dt.timedelta(seconds=2), now)
    email.message_id = f"<demo.{email.enrollment_id}.{email.step.position}@{slug}.test>"


def _fail(email: ScheduledEmail, diagnosis: Diagnosis) -> None:
    """Tried once (at its time) and refused, moved to what the refusal means, as
    `_next_state` does: a first retry as soon as the provider allows, a minute at least."""
    email.attempt_count = 1
    if diagnosis.retry == Retry.AUTO:
        _refused(email, diagnosis, ScheduledEmail.Status.RETRYING)
        wait = diagnosis.retry_after or DEFAULT_PAUSE.get(diagnosis.category, 0)
        email.next_attempt_at = email.scheduled_for + dt.timedelta(
            seconds=1 + max(wait, BACKOFF_BASE_SECONDS)
        )
    elif diagnosis.retry == Retry.NEVER:
        _refused(email, diagnosis, ScheduledEmail.Status.FAILED)
    else:
        _refused(email, diagnosis, ScheduledEmail.Status.BLOCKED)


def _refused(email: ScheduledEmail, diagnosis: Diagnosis, status: str) -> None:
    email.status = status
    email.status_reason = diagnosis.title
    email.next_attempt_at = None
    email.claimed_at = None
    email.last_error = diagnosis.raw
    email.error_code = diagnosis.code
    email.error_category = diagnosis.category


def _cancel(email: ScheduledEmail, reason: str) -> None:
    email.status = ScheduledEmail.Status.CANCELLED
    email.status_reason = reason
    email.next_attempt_at = None


def _attempts_for(email: ScheduledEmail) -> list[SendAttempt]:
    """The history that explains a seeded email's status: its refusal, if it was tried
    and refused, then its send, if it went."""
    sent = email.status == ScheduledEmail.Status.SENT
    attempts = []
    if email.attempt_count > sent:
        attempts.append(_refused_attempt(email, number=1))
    if sent:
        attempt = _attempt(email, number=len(attempts) + 1, started=email.sent_at)
        attempt.outcome = SendAttempt.Outcome.SENT
        attempt.message_id = email.message_id
        attempts.append(attempt)
    return attempts


def _attempt(email: ScheduledEmail, *, number: int, started: dt.datetime) -> SendAttempt:
    return SendAttempt(
        email=email,
        mailbox_id=email.mailbox_id,
        number=number,
        started_at=started,
        finished_at=started + dt.timedelta(seconds=1),
    )


def _refused_attempt(email: ScheduledEmail, *, number: int) -> SendAttempt:
    attempt = _attempt(email, number=number, started=email.scheduled_for)
    diagnosis = diagnose(email.last_error)
    attempt.outcome = SendAttempt.Outcome.FAILED
    attempt.raw_error = diagnosis.raw
    attempt.error_code = diagnosis.code
    attempt.category = diagnosis.category
    attempt.retry = diagnosis.retry
    attempt.smtp_code = diagnosis.smtp_code
    attempt.enhanced_code = diagnosis.enhanced_code or ""
    attempt.http_status = diagnosis.http_status
    attempt.provider = diagnosis.provider or ""
    attempt.request_id = diagnosis.request_id or ""
    return attempt
