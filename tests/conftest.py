from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.utils import timezone

from config.celery import app as celery_app
from deliverability.models import DomainCheckRun
from deliverability.services import domain_check_start
from sandboxes.dns_server import ZONES, DnsSandbox, load_zones
from sandboxes.oauth_server import GOOGLE, MICROSOFT, OAuthSandbox
from sandboxes.smtp_server import SmtpSandbox
from sequences.models import (
    AuditEntry,
    Contact,
    ContactImport,
    Enrollment,
    Mailbox,
    Membership,
    Organization,
    ScheduledEmail,
    SendAttempt,
    Sequence,
    Step,
)
from sequences.services.imports import contact_import_upload
from sequences.services.mailboxes import mailbox_resync_request
from tests.dovecot import Dovecot
from tests.postfix import Postfix
from tests.support import TEST_BROKER_URL, Workers


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup: None, django_db_blocker) -> Iterator[None]:
    # Constraints, locking and query plans are PostgreSQL's in production: test on it.
    if connection.vendor != "postgresql":
        pytest.exit(
            "The tests run against PostgreSQL: use `make test`, or set DATABASE_URL to a "
            "PostgreSQL server (e.g. postgres://postgres@127.0.0.1:5432/sequences).",
            returncode=2,
        )
    yield
    # Worker processes and the live server's threads may still hold a session for a
    # moment after their test: end them, or the test database cannot be dropped.
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


@pytest.fixture(autouse=True)
def fast_password_hasher(settings) -> None:
    # Production's hasher is slow on purpose; the tests create hundreds of users.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def make_user(db: None) -> Callable[..., object]:
    def make(
        username: str, *, role: str, organization: Organization | None, password: str = "pw"
    ) -> object:
        user = get_user_model().objects.create_user(
            username=username, password=password, first_name=username.title()
        )
        Membership.objects.create(user=user, organization=organization, role=role)
        return user

    return make


@pytest.fixture
def organization(db: None) -> Organization:
    return Organization.objects.create(name="Acme", slug="acme")


@pytest.fixture
def other_organization(db: None) -> Organization:
    return Organization.objects.create(name="Globex", slug="globex")


@pytest.fixture
def rep(make_user: Callable[..., object], organization: Organization) -> object:
    return make_user("rita", role=Membership.Role.REP, organization=organization)


@pytest.fixture
def teammate(make_user: Callable[..., object], organization: Organization) -> object:
    return make_user("ralph", role=Membership.Role.REP, organization=organization)


@pytest.fixture
def admin_user(make_user: Callable[..., object], organization: Organization) -> object:
    return make_user("adam", role=Membership.Role.ADMIN, organization=organization)


@pytest.fixture
def support(make_user: Callable[..., object]) -> object:
    return make_user("sam", role=Membership.Role.SUPPORT, organization=None)


@pytest.fixture
def outsider(make_user: Callable[..., object], other_organization: Organization) -> object:
    return make_user("gina", role=Membership.Role.ADMIN, organization=other_organization)


@pytest.fixture
def make_mailbox(db: None) -> Callable[..., Mailbox]:
    def make(owner: object, *, email: str | None = None, password: str = "s3cret") -> Mailbox:
        mailbox = Mailbox(
            organization=owner.membership.organization,
            owner=owner,
            email=email or f"{owner.username}@example.test",
            smtp_host="127.0.0.1",
            smtp_port=2525,
            smtp_username=email or f"{owner.username}@example.test",
        )
        mailbox.password = password
        mailbox.save()
        return mailbox

    return make


@pytest.fixture
def make_sequence(make_mailbox: Callable[..., Mailbox]) -> Callable[..., Sequence]:
    def make(owner: object, *, name: str = "Outbound", steps: int = 2) -> Sequence:
        sequence = Sequence.objects.create(
            organization=owner.membership.organization,
            owner=owner,
            mailbox=make_mailbox(owner, email=f"{owner.username}.{name.lower()}@example.test"),
            name=name,
        )
        for position in range(1, steps + 1):
            Step.objects.create(
                sequence=sequence,
                position=position,
                wait_days=0 if position == 1 else 3,
                subject=f"Step {position} for {{{{ first_name }}}}",
                body="Hello {{ first_name }}",
            )
        return sequence

    return make


@pytest.fixture
def make_email(db: None) -> Callable[..., ScheduledEmail]:
    """An email of the sequence's first step to a new contact, scheduled in an hour."""

    def make(sequence: Sequence, *, email: str, **fields: object) -> ScheduledEmail:
        contact, _ = Contact.objects.get_or_create(
            organization=sequence.organization, email=email, defaults={"first_name": "Pat"}
        )
        enrollment, _ = Enrollment.objects.get_or_create(
            sequence=sequence, contact=contact, defaults={"enrolled_at": timezone.now()}
        )
        when = timezone.now() + dt.timedelta(hours=1)
        return ScheduledEmail.objects.create(
            enrollment=enrollment,
            step=sequence.steps.get(position=fields.pop("position", 1)),
            sequence=sequence,
            contact=contact,
            mailbox=sequence.mailbox,
            **{"scheduled_for": when, "next_attempt_at": when, **fields},
        )

    return make


@pytest.fixture
def start_sandbox(tmp_path: Path) -> Iterator[Callable[..., SmtpSandbox]]:
    """Starts SMTP sandboxes on free loopback ports, storing in tmp_path; stops them after."""
    started: list[SmtpSandbox] = []

    def start(**options: int) -> SmtpSandbox:
        sandbox = SmtpSandbox(host="127.0.0.1", port=0, store=tmp_path / "mail", **options)
        sandbox.start()
        started.append(sandbox)
        return sandbox

    yield start
    for sandbox in started:
        sandbox.stop()


@pytest.fixture
def sandbox(start_sandbox: Callable[..., SmtpSandbox]) -> SmtpSandbox:
    return start_sandbox()


@pytest.fixture
def oauth_sandbox(settings) -> Iterator[OAuthSandbox]:
    """The OAuth sandbox on a free loopback port, the product's providers pointed at it."""
    with OAuthSandbox() as oauth:
        providers = {name: dict(conf) for name, conf in settings.OAUTH_PROVIDERS.items()}
        for name, flavour in (("gmail", GOOGLE), ("microsoft", MICROSOFT)):
            providers[name]["authorize_url"] = oauth.url + flavour.authorize_path
            providers[name]["token_url"] = oauth.url + flavour.token_path
        settings.OAUTH_PROVIDERS = providers
        # As settings.py lets the sign-in forms' redirect go to the providers' origins.
        settings.SECURE_CSP = {**settings.SECURE_CSP, "form-action": ["'self'", oauth.url]}
        yield oauth


@pytest.fixture
def oauth_mail(start_sandbox, oauth_sandbox, settings) -> SmtpSandbox:
    """An SMTP sandbox taking the OAuth sandbox's tokens, where OAuth mailboxes send."""
    smtp = start_sandbox(oauth_url=oauth_sandbox.url)
    settings.OAUTH_SMTP_SERVERS = dict.fromkeys(
        ("gmail", "microsoft"), ("127.0.0.1", smtp.port, "none")
    )
    return smtp


# The fixture zone whose server never answers.
SILENT_ZONE = "slow.test"


@pytest.fixture(scope="session")
def dns_sandbox() -> Iterator[DnsSandbox]:
    """The fixture zones of sandboxes/dns_zones, served on a free loopback port."""
    with DnsSandbox(load_zones(ZONES), silent=[SILENT_ZONE]) as server:
        yield server


@pytest.fixture
def dns_settings(settings, dns_sandbox: DnsSandbox):
    """Deliverability checks resolve against the fixture zones only, with a short timeout."""
    settings.DNS_NAMESERVERS = [dns_sandbox.nameserver]
    settings.DNS_TIMEOUT = 0.5
    settings.DNSBL_IP_ZONES = ["zen.spamhaus.org", "bl.spamcop.net", "b.barracudacentral.org"]
    settings.DNSBL_DOMAIN_ZONES = ["dbl.spamhaus.org"]
    return settings


@pytest.fixture
def make_failed_email(make_email: Callable[..., ScheduledEmail]) -> Callable[..., ScheduledEmail]:
    """An email that failed once with `raw`, with the attempt that recorded it."""

    def make(
        sequence: Sequence,
        *,
        email: str,
        raw: str,
        code: str,
        category: str,
        status: str = ScheduledEmail.Status.BLOCKED,
    ) -> ScheduledEmail:
        failed = make_email(
            sequence,
            email=email,
            status=status,
            next_attempt_at=None,
            last_error=raw,
            error_code=code,
            error_category=category,
            attempt_count=1,
        )
        SendAttempt.objects.create(
            email=failed,
            mailbox=failed.mailbox,
            number=1,
            started_at=timezone.now(),
            outcome=SendAttempt.Outcome.FAILED,
            raw_error=raw,
            category=category,
        )
        return failed

    return make


@pytest.fixture
def make_uncertain_email(
    make_email: Callable[..., ScheduledEmail],
) -> Callable[..., ScheduledEmail]:
    """An email handed to the server that never confirmed, as the pipeline records it."""

    def make(sequence: Sequence, *, email: str) -> ScheduledEmail:
        message_id = f"<uncertain.{sequence.pk}.{email}>"
        raw = (
            "Delivery uncertain: the message was handed to the SMTP server, which then gave no "
            f"reply (TimeoutError: timed out) (Message-ID {message_id}); check the mailbox's "
            "Sent folder before rescheduling."
        )
        uncertain = make_email(
            sequence,
            email=email,
            status=ScheduledEmail.Status.BLOCKED,
            next_attempt_at=None,
            status_reason="Delivery uncertain",
            last_error=raw,
            error_code=ScheduledEmail.DELIVERY_UNCERTAIN,
            error_category="unknown",
            message_id=message_id,
            attempt_count=1,
        )
        SendAttempt.objects.create(
            email=uncertain,
            mailbox=uncertain.mailbox,
            number=1,
            started_at=timezone.now(),
            outcome=SendAttempt.Outcome.UNCERTAIN,
            message_id=message_id,
            raw_error=raw,
        )
        return uncertain

    return make


@dataclass
class Fixables:
    """What the fixes act on: a sequence, its blocked email and contact, an email whose
    delivery is uncertain, a run of its mailbox's domain checks and a resynchronization
    asked for."""

    sequence: Sequence
    email: ScheduledEmail
    uncertain: ScheduledEmail
    check: DomainCheckRun
    resync: AuditEntry

    @property
    def contact(self) -> Contact:
        return self.email.contact

    @property
    def step(self) -> Step:
        return self.email.step

    @property
    def enrollment(self) -> Enrollment:
        return self.email.enrollment


@pytest.fixture
def make_fixables(
    make_sequence, make_failed_email, make_uncertain_email
) -> Callable[[object], Fixables]:
    """`Fixables` of a one-step sequence that `owner` owns (its email's address is invalid)."""

    def make(owner: object, name: str = "Outbound") -> Fixables:
        sequence = make_sequence(owner, name=name, steps=1)
        email = make_failed_email(
            sequence,
            email="pat@example.test",
            raw="[402] Invalid character in recipient address",
            code="nylas.402.invalid_character",
            category="recipient_address_invalid",
        )
        check = domain_check_start(
            mailbox=sequence.mailbox,
            scope=DomainCheckRun.Scope.ALL,
            trigger=DomainCheckRun.Trigger.SCHEDULE,
        )
        uncertain = make_uncertain_email(sequence, email="sam@example.test")
        resync = mailbox_resync_request(actor=owner, mailbox=sequence.mailbox)
        return Fixables(sequence, email, uncertain, check, resync)

    return make


@pytest.fixture
def import_dir(settings, tmp_path: Path) -> Path:
    """Uploads wait in the test's own folder (CONTACT_IMPORT_DIR, also a worker's)."""
    settings.CONTACT_IMPORT_DIR = tmp_path / "imports"
    return settings.CONTACT_IMPORT_DIR


@pytest.fixture
def make_import(import_dir: Path) -> Callable[..., ContactImport]:
    """An uploaded CSV of `text`, its columns still to map, as `owner` uploaded it."""

    def make(owner: object, text: str, *, name: str = "contacts.csv") -> ContactImport:
        return contact_import_upload(
            actor=owner,
            organization_id=owner.membership.organization_id,
            upload=SimpleUploadedFile(name, text.encode(), content_type="text/csv"),
        )

    return make


@pytest.fixture(scope="session")
def celery_broker(django_db_setup: None) -> str:
    """The tests' own Redis database, emptied, and the test process pointed at it."""
    redis.Redis.from_url(TEST_BROKER_URL).flushdb()
    _publish_to(TEST_BROKER_URL)
    return TEST_BROKER_URL


def _publish_to(url: str) -> None:
    """What this process queues goes to `url`, with the app's connection and producer
    pools made anew: an earlier test may have queued a task (delay_on_commit) and so made
    them for the default broker. What Celery does in a forked child (`app.close()` drops
    the connection pool only, and unregisters the app)."""
    celery_app.conf.broker_url = url
    celery_app._after_fork()


@pytest.fixture
def workers(celery_broker: str, tmp_path: Path) -> Iterator[Workers]:
    # What earlier tests queued without a worker (a resync of a mailbox gone since, trying
    # its server for SMTP_TIMEOUT) is not this test's: a worker starts on an empty queue.
    redis.Redis.from_url(celery_broker).flushdb()
    _publish_to(celery_broker)
    pool = Workers(tmp_path)
    yield pool
    pool.stop_all()
    for name in pool.names:
        print(f"--- worker {name} ---\n{pool.log(name)[-4000:]}")  # shown when a test fails


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the tests' own ORM calls
    # there are still synchronous, which Django would otherwise refuse.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture
def signed_in(browser, live_server, client):
    """A browser page signed in as `user`, at the live server."""
    pages = []

    def sign_in(user: object) -> object:
        client.force_login(user)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.add_cookies(
            [
                {
                    "name": "sessionid",
                    "value": client.cookies["sessionid"].value,
                    "url": live_server.url,
                },
                {"name": "tz", "value": "UTC", "url": live_server.url},
            ]
        )
        page = context.new_page()
        pages.append(context)
        return page

    yield sign_in
    for context in pages:
        context.close()


# The login and password the `postfix` fixture takes (a mailbox of make_mailbox's defaults).
POSTFIX_USERS = {"rita@example.test": "s3cret"}


@pytest.fixture
def start_postfix(
    tmp_path: Path, start_sandbox: Callable[..., SmtpSandbox]
) -> Iterator[Callable[..., Postfix]]:
    """Starts private Postfix instances (tests/postfix.py) on free loopback ports, relaying
    to `relay` (a new SMTP sandbox when not given); stops them after.

    Fails, never skips, when Postfix is not installed: `make test` installs it.
    """
    started: list[Postfix] = []

    def start(*, relay: SmtpSandbox | None = None, **options: object) -> Postfix:
        relay = relay or start_sandbox()
        server = Postfix(tmp_path / f"postfix-{len(started)}", relay_port=relay.port, **options)
        started.append(server)
        server.start()
        return server

    yield start
    for server in started:
        server.stop()
        print(f"--- postfix {server.port} ---\n{server.log()[-4000:]}")  # shown when a test fails


@pytest.fixture
def postfix(start_postfix: Callable[..., Postfix], sandbox: SmtpSandbox) -> Postfix:
    """A Postfix taking AUTH PLAIN/LOGIN for POSTFIX_USERS, relaying what it accepts to
    `sandbox`."""
    return start_postfix(relay=sandbox, users=POSTFIX_USERS)


@pytest.fixture(scope="session")
def dovecot() -> Iterator[Dovecot]:
    """A private Dovecot (tests/dovecot.py) for the session; each test adds its own users.

    Fails, never skips, when Dovecot is not installed: `make test` installs it."""
    with Dovecot() as server:
        yield server
