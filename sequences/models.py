"""The domain of a sales-engagement product: who sends what to whom, and what happened.

Statuses are TextChoices backed by check constraints, so a wrong value cannot reach the
database by any path. State changes belong in services, which refuse a wrong start state.
"""

from __future__ import annotations

import datetime
import json
import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower

from diagnostics.vocabulary import Category, MessageKind, Retry
from sequences.addresses import validate_contact_address
from sequences.crypto import decrypt_secret, encrypt_secret
from sequences.templating import validate_step_template


def validate_time_zone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"“{value}” is not a known time zone (e.g. Europe/Paris).")


def choices_check(
    field: str, choices: type[models.TextChoices], name: str
) -> models.CheckConstraint:
    return models.CheckConstraint(condition=Q(**{f"{field}__in": choices.values}), name=name)


class MembershipRole(models.TextChoices):
    REP = "rep", "Sales rep"
    ADMIN = "admin", "Admin"
    SUPPORT = "support", "Support"


class MailboxProvider(models.TextChoices):
    GMAIL = "gmail", "Google Workspace / Gmail"
    MICROSOFT = "microsoft", "Microsoft 365"
    SMTP = "smtp", "Other SMTP server"


class MailboxState(models.TextChoices):
    CONNECTED = "connected", "Connected"
    INVALID_CREDENTIALS = "invalid_credentials", "Invalid credentials"
    SYNC_ERROR = "sync_error", "Sync error"
    PAUSED = "paused", "Paused"


class MailboxSecurity(models.TextChoices):
    NONE = "none", "None (local sandbox only)"
    STARTTLS = "starttls", "STARTTLS"
    TLS = "tls", "Implicit TLS"


class SequenceState(models.TextChoices):
    ACTIVE = "active", "Active"
    PAUSED = "paused", "Paused"
    # Sends nothing more (its pending emails were cancelled); hidden from the default list.
    ARCHIVED = "archived", "Archived"


class ContactState(models.TextChoices):
    ACTIVE = "active", "Active"
    BOUNCED = "bounced", "Bounced"
    SUPPRESSED = "suppressed", "Suppressed"
    UNSUBSCRIBED = "unsubscribed", "Unsubscribed"


class EnrollmentState(models.TextChoices):
    ACTIVE = "active", "Active"
    PAUSED = "paused", "Paused"
    FINISHED = "finished", "Finished"
    STOPPED = "stopped", "Stopped"


class EnrollmentStopCause(models.TextChoices):
    # Why an enrollment stopped: what may restart it (a corrected address, a bounce only).
    BOUNCED = "bounced", "Contact bounced"
    SUPPRESSED = "suppressed", "Contact suppressed"
    UNSUBSCRIBED = "unsubscribed", "Contact unsubscribed"
    UNENROLLED = "unenrolled", "Unenrolled"
    REPLIED = "replied", "Contact replied"


class ContactImportStatus(models.TextChoices):
    # Uploaded, its columns not mapped yet; queued and running in a worker; then done.
    UPLOADED = "uploaded", "Columns to map"
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Importing"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class ScheduledEmailStatus(models.TextChoices):
    # A follow-up whose previous step is not sent yet: it is scheduled once that one is.
    WAITING = "waiting", "Waiting for the previous step"
    SCHEDULED = "scheduled", "Scheduled"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    RETRYING = "retrying", "Retrying"
    BLOCKED = "blocked", "Blocked"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"
    # Accepted by the server, then returned: a bounce read later from the mailbox.
    BOUNCED = "bounced", "Bounced after sending"
    REPLIED = "replied", "Replied"


class SendAttemptOutcome(models.TextChoices):
    # Recorded before the SMTP conversation starts, so that a crash leaves a trace.
    STARTED = "started", "In progress"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"
    # The server may have accepted the message but we never recorded it (a worker died).
    UNCERTAIN = "uncertain", "Uncertain"


class AuditEntryAction(models.TextChoices):
    EDIT_CONTACT = "edit_contact", "Edited a contact's address"
    SUPPRESS_CONTACT = "suppress_contact", "Suppressed a contact"
    RESYNC_MAILBOX = "resync_mailbox", "Resynchronized a mailbox"
    RESCHEDULE = "reschedule", "Rescheduled emails"
    PAUSE_SEQUENCE = "pause_sequence", "Paused a sequence"
    RESUME_SEQUENCE = "resume_sequence", "Resumed a sequence"
    REVIEW_ACCOUNT = "review_account", "Reviewed the account (support)"
    CHECK_DOMAIN = "check_domain", "Checked a mailbox's domain"
    SET_DKIM_SELECTORS = "set_dkim_selectors", "Changed the DKIM selectors checked"
    RESEND_UNCERTAIN = "resend_uncertain", "Sent an uncertain email again"
    EDIT_MAILBOX = "edit_mailbox", "Changed a mailbox's settings and reconnected it"
    CONNECT_MAILBOX = "connect_mailbox", "Connected a new mailbox"
    MOVE_MAILBOX_EMAILS = "move_mailbox_emails", "Moved a mailbox's sequences and emails"
    # On request (an admin's click) or by the contact's own one-click link.
    UNSUBSCRIBE_CONTACT = "unsubscribe_contact", "Unsubscribed a contact"
    CREATE_SEQUENCE = "create_sequence", "Created a sequence"
    RENAME_SEQUENCE = "rename_sequence", "Renamed a sequence"
    CHANGE_SEQUENCE_MAILBOX = "change_sequence_mailbox", "Changed the mailbox a sequence sends from"
    ARCHIVE_SEQUENCE = "archive_sequence", "Archived a sequence"
    ADD_STEP = "add_step", "Added a step to a sequence"
    EDIT_STEP = "edit_step", "Edited a step"
    MOVE_STEP = "move_step", "Moved a step"
    DELETE_STEP = "delete_step", "Deleted a step"
    ADD_CONTACT = "add_contact", "Added a contact"
    UPDATE_CONTACT = "update_contact", "Changed a contact's details"
    IMPORT_CONTACTS = "import_contacts", "Imported contacts from a CSV file"
    ENROLL_CONTACTS = "enroll_contacts", "Enrolled contacts into a sequence"
    UNENROLL_CONTACT = "unenroll_contact", "Unenrolled a contact"
    EXPORT_CONTACTS = "export_contacts", "Exported contacts as CSV"
    EXPORT_EMAILS = "export_emails", "Exported a sequence's emails as CSV"


class Organization(models.Model):
    """A customer account."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(unique=True)
    reps_may_edit_contacts = models.BooleanField(
        default=False, help_text="Whether sales reps may correct a contact's email address."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    """A user's role. Support staff belong to the vendor: no organization, all to review."""

    Role = MembershipRole

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    organization = models.ForeignKey(
        Organization, null=True, blank=True, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=16, choices=Role.choices)

    class Meta:
        constraints = [
            choices_check("role", MembershipRole, "membership_role_valid"),
            models.CheckConstraint(
                condition=Q(role="support", organization__isnull=True)
                | (~Q(role="support") & Q(organization__isnull=False)),
                name="membership_support_has_no_organization",
                violation_error_message=(
                    "Support staff belong to no organization; reps and admins belong to one."
                ),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} ({self.get_role_display()}, {self.organization or 'vendor'})"

    @property
    def is_support(self) -> bool:
        """Vendor staff: review every organization, read-only."""
        return self.role == MembershipRole.SUPPORT

    @property
    def is_admin(self) -> bool:
        return self.role == MembershipRole.ADMIN

    @property
    def is_rep(self) -> bool:
        return self.role == MembershipRole.REP


class Mailbox(models.Model):
    """A sender's connected mailbox, used to send a sequence's emails over SMTP."""

    Provider = MailboxProvider

    State = MailboxState

    Security = MailboxSecurity

    # What a refusal of these kinds is about: the mailbox itself (its sign-in, its
    # server's settings, its account), so the mailbox holds all its emails until a resync.
    HOLDING_CATEGORIES = (
        Category.MAILBOX_CONNECTION,
        Category.ACCOUNT_SETUP,
        Category.ACCOUNT_SUSPENDED,
    )

    # The most a provider lets one mailbox send (a day, a minute): Google Workspace's 2 000
    # messages a day, Exchange Online's 10 000 recipients a day and 30 messages a minute;
    # an own server's are its admin's, bounded here only against typing errors.
    SENDING_LIMITS = {
        Provider.GMAIL: (2_000, 60),
        Provider.MICROSOFT: (10_000, 30),
        Provider.SMTP: (100_000, 1_000),
    }

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="mailboxes"
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="mailboxes"
    )
    email = models.EmailField()
    display_name = models.CharField(max_length=200, blank=True)
    provider = models.CharField(max_length=16, choices=Provider.choices, default=Provider.SMTP)
    smtp_host = models.CharField(max_length=255)
    smtp_port = models.PositiveIntegerField(default=587)
    smtp_security = models.CharField(
        max_length=16, choices=Security.choices, default=Security.STARTTLS
    )
    # Empty: the server relays for this host without a sign-in (no AUTH is sent).
    smtp_username = models.CharField(max_length=255, blank=True)
    # A Fernet token, never the password itself: see `password`.
    smtp_secret = models.TextField(editable=False)
    # Signed in with the provider's OAuth 2.0 instead of a password: its access and refresh
    # tokens, encrypted like the password (see `oauth_tokens`), and when the access token
    # expires. Empty: a password mailbox.
    oauth_secret = models.TextField(blank=True, editable=False)
    oauth_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    state = models.CharField(max_length=32, choices=State.choices, default=State.CONNECTED)
    last_error = models.TextField(blank=True)
    last_error_code = models.CharField(max_length=100, blank=True)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    # Set when the provider says "too many" or "quota used up": nothing is sent before.
    paused_until = models.DateTimeField(null=True, blank=True)
    # Failures to connect, greet, start TLS or sign in since the last success; at
    # MAILBOX_CONNECTION_FAILURES the mailbox holds its emails (sync error).
    connection_failures = models.PositiveSmallIntegerField(default=0, editable=False)
    # Reading the mailbox over IMAP (sequences.services.inbox): no host, no reading. The
    # sign-in is the SMTP one unless a username (and password: `imap_password`) is set.
    imap_host = models.CharField(max_length=255, blank=True)
    imap_port = models.PositiveIntegerField(default=993)
    imap_security = models.CharField(max_length=16, choices=Security.choices, default=Security.TLS)
    imap_username = models.CharField(max_length=255, blank=True)
    imap_secret = models.TextField(blank=True, editable=False)
    # The folders read, comma-separated (the inbox and the spam folder: bounces and
    # complaints land in either), and the one the SMTP server saves what it sends in.
    imap_folders = models.CharField(max_length=500, default="INBOX, Junk")
    imap_sent_folder = models.CharField(max_length=255, default="Sent", blank=True)
    # Held by the reader of this mailbox while it reads: one reader per mailbox at a time.
    inbox_lease_until = models.DateTimeField(null=True, blank=True, editable=False)
    # Renewed by a send batch of this mailbox while it runs: a claim taken before it and
    # still sending once it has passed belongs to a worker that is gone.
    sending_lease_until = models.DateTimeField(null=True, blank=True, editable=False)
    daily_limit = models.PositiveIntegerField(default=500, validators=[MinValueValidator(1)])
    per_minute_limit = models.PositiveIntegerField(default=30, validators=[MinValueValidator(1)])
    time_zone = models.CharField(max_length=64, default="UTC", validators=[validate_time_zone])
    # ISO weekdays the mailbox sends on, Monday=1 … Sunday=7.
    sending_days = models.CharField(
        max_length=7,
        default="12345",
        validators=[RegexValidator(r"^[1-7]{1,7}$", "Use the digits 1 (Monday) to 7 (Sunday).")],
    )
    window_start = models.TimeField(default=datetime.time(8))
    window_end = models.TimeField(default=datetime.time(18))
    # DKIM selectors to check besides the provider's usual ones (space-separated).
    dkim_selectors = models.CharField(
        max_length=200,
        blank=True,
        validators=[
            RegexValidator(
                r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*( +[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*)*$",
                "Selectors are DNS labels (letters, digits, - and _), separated by spaces.",
            )
        ],
        help_text="The s= of a sent message's DKIM-Signature header, e.g. s1 or mail2024.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["email"]
        verbose_name_plural = "mailboxes"
        constraints = [
            models.UniqueConstraint(
                "organization",
                Lower("email"),
                name="mailbox_email_unique_per_organization",
                violation_error_message=(
                    "This organization already has a mailbox with this address."
                ),
            ),
            choices_check("state", MailboxState, "mailbox_state_valid"),
            choices_check("provider", MailboxProvider, "mailbox_provider_valid"),
            choices_check("smtp_security", MailboxSecurity, "mailbox_security_valid"),
            choices_check("imap_security", MailboxSecurity, "mailbox_imap_security_valid"),
            models.CheckConstraint(
                condition=Q(window_start__lt=models.F("window_end")),
                name="mailbox_window_starts_before_it_ends",
                violation_error_message="The sending window must start before it ends.",
            ),
        ]

    def __str__(self) -> str:
        return self.email

    @property
    def domain(self) -> str:
        """The domain it sends from, whose DNS records receivers check."""
        return self.email.rpartition("@")[2].lower()

    @property
    def password(self) -> str:
        return decrypt_secret(self.smtp_secret)

    @password.setter
    def password(self, plain: str) -> None:
        self.smtp_secret = encrypt_secret(plain)

    @property
    def oauth_provider(self) -> str:
        """Whose OAuth 2.0 sign-in the mailbox may use ("" for other servers)."""
        return {self.Provider.GMAIL: "Google", self.Provider.MICROSOFT: "Microsoft"}.get(
            self.provider, ""
        )

    @property
    def uses_oauth(self) -> bool:
        """Signs in with SASL XOAUTH2 and an OAuth access token, not a password."""
        return bool(self.oauth_secret)

    @property
    def oauth_tokens(self) -> dict[str, str]:
        """{"access_token": ..., "refresh_token": ...}, decrypted."""
        return json.loads(decrypt_secret(self.oauth_secret))

    @oauth_tokens.setter
    def oauth_tokens(self, tokens: dict[str, str]) -> None:
        self.oauth_secret = encrypt_secret(json.dumps(tokens))

    # Where each provider serves its mailboxes over IMAP, and names the folders read.
    IMAP_PRESETS = {
        Provider.GMAIL: ("imap.gmail.com", 993, "INBOX, [Gmail]/Spam", "[Gmail]/Sent Mail"),
        Provider.MICROSOFT: ("outlook.office365.com", 993, "INBOX, Junk Email", "Sent Items"),
    }

    @property
    def imap_login(self) -> str:
        return self.imap_username or self.smtp_username

    @property
    def imap_password(self) -> str:
        """The IMAP password, the SMTP one unless one of its own is set."""
        return decrypt_secret(self.imap_secret) if self.imap_secret else self.password

    @imap_password.setter
    def imap_password(self, plain: str) -> None:
        self.imap_secret = encrypt_secret(plain) if plain else ""

    @property
    def imap_folder_names(self) -> list[str]:
        return [name.strip() for name in self.imap_folders.split(",") if name.strip()]


class Sequence(models.Model):
    State = SequenceState

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="sequences"
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="sequences"
    )
    mailbox = models.ForeignKey(Mailbox, on_delete=models.PROTECT, related_name="sequences")
    name = models.CharField(max_length=200)
    state = models.CharField(max_length=16, choices=State.choices, default=State.ACTIVE)
    paused_reason = models.CharField(max_length=500, blank=True)
    # The bounce-rate guard stops first emails to new contacts; follow-ups continue.
    first_steps_paused_at = models.DateTimeField(null=True, blank=True)
    first_steps_paused_reason = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                "organization",
                "name",
                name="sequence_name_unique_per_organization",
                violation_error_message="This organization already has a sequence with this name.",
            ),
            choices_check("state", SequenceState, "sequence_state_valid"),
        ]

    def __str__(self) -> str:
        return self.name

    def hold_reason(self, position: int) -> str:
        """Why this sequence holds its emails of step `position` back now, or "".

        The rule of sending.held_steps, for a sequence already loaded.
        """
        if self.state == SequenceState.PAUSED:
            return "the sequence is paused. It goes out once the sequence resumes."
        if self.state == SequenceState.ARCHIVED:
            return "the sequence is archived: it sends nothing more."
        if self.first_steps_paused_at is not None and position == 1:
            return (
                "first emails of this sequence are paused by the bounce-rate guard. It goes "
                "out once an admin resumes them."
            )
        return ""


class Step(models.Model):
    """One email of a sequence. Subject and body are step templates over the contact
    (sequences.templating: its variables, a few filters and `if`)."""

    sequence = models.ForeignKey(Sequence, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveSmallIntegerField(validators=[MinValueValidator(1)])
    wait_days = models.PositiveSmallIntegerField(
        default=0, help_text="Days after the previous step (or enrollment, for the first step)."
    )
    subject = models.CharField(max_length=300, validators=[validate_step_template])
    body = models.TextField(validators=[validate_step_template])

    class Meta:
        ordering = ["sequence", "position"]
        constraints = [
            models.UniqueConstraint(
                "sequence", "position", name="step_position_unique_per_sequence"
            ),
            models.CheckConstraint(condition=Q(position__gte=1), name="step_position_positive"),
        ]

    def __str__(self) -> str:
        return f"Step {self.position}: {self.subject}"


class Contact(models.Model):
    State = ContactState

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="contacts"
    )
    email = models.CharField(max_length=320, validators=[validate_contact_address])
    first_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100, blank=True)
    company = models.CharField(max_length=200, blank=True)
    job_title = models.CharField(max_length=200, blank=True)
    time_zone = models.CharField(max_length=64, default="UTC", validators=[validate_time_zone])
    state = models.CharField(max_length=16, choices=State.choices, default=State.ACTIVE)
    state_reason = models.CharField(max_length=500, blank=True)
    # Who added it (by hand or by an import): a rep sees the contacts they added.
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )
    # The import that created it: "enroll these contacts" after an import.
    contact_import = models.ForeignKey(
        "ContactImport",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="contacts",
        editable=False,
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["last_name", "first_name", "email"]
        constraints = [
            models.UniqueConstraint(
                "organization",
                Lower("email"),
                name="contact_email_unique_per_organization",
                violation_error_message=(
                    "Another contact of this organization already has this email address."
                ),
            ),
            choices_check("state", ContactState, "contact_state_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.full_name} <{self.email}>" if self.full_name else self.email

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


class ContactImport(models.Model):
    """A CSV file of contacts, imported by a worker (sequences.services.imports).

    The worker commits the file in batches, each with the line it reached, so a task that
    dies is resumed where it stopped: re-running it never imports a row twice.
    """

    Status = ContactImportStatus

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="contact_imports"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    file_name = models.CharField(max_length=255, help_text="The name the file was uploaded as.")
    # Where the upload is kept until it is imported (CONTACT_IMPORT_DIR), then deleted.
    stored_as = models.CharField(max_length=100, editable=False)
    size = models.PositiveBigIntegerField()
    headers = models.JSONField(default=list)
    # A contact field -> the file's column it is read from.
    mapping = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.UPLOADED)
    failure = models.CharField(max_length=500, blank=True)
    # Records in the file (lines, less the header: a quoted line break may make it more).
    total_rows = models.PositiveIntegerField(default=0)
    rows_done = models.PositiveIntegerField(default=0)
    imported_count = models.PositiveIntegerField(default=0)
    refused_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [choices_check("status", ContactImportStatus, "contact_import_status_valid")]

    def __str__(self) -> str:
        return self.file_name

    @property
    def in_progress(self) -> bool:
        return self.status in (ContactImportStatus.QUEUED, ContactImportStatus.RUNNING)

    @property
    def percent(self) -> int:
        if self.status == ContactImportStatus.DONE:
            return 100
        return min(99, 100 * self.rows_done // self.total_rows) if self.total_rows else 0


class ContactImportRefusal(models.Model):
    """A row of an import that was not imported, and why."""

    contact_import = models.ForeignKey(
        ContactImport, on_delete=models.CASCADE, related_name="refusals"
    )
    line = models.PositiveIntegerField(help_text="The line of the file, the header being 1.")
    email = models.CharField(max_length=320, blank=True)
    reason = models.CharField(max_length=500)

    class Meta:
        ordering = ["contact_import", "line"]
        constraints = [
            models.UniqueConstraint(
                "contact_import", "line", name="contact_import_refusal_one_per_line"
            )
        ]

    def __str__(self) -> str:
        return f"Line {self.line}: {self.reason}"


class Enrollment(models.Model):
    State = EnrollmentState
    StopCause = EnrollmentStopCause

    sequence = models.ForeignKey(Sequence, on_delete=models.CASCADE, related_name="enrollments")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="enrollments")
    state = models.CharField(max_length=16, choices=State.choices, default=State.ACTIVE)
    stop_cause = models.CharField(max_length=16, choices=StopCause.choices, blank=True)
    stopped_reason = models.CharField(max_length=500, blank=True)
    enrolled_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                "sequence",
                "contact",
                name="enrollment_unique_per_sequence",
                violation_error_message="This contact is already enrolled in this sequence.",
            ),
            choices_check("state", EnrollmentState, "enrollment_state_valid"),
            models.CheckConstraint(
                condition=~Q(state="stopped") | ~Q(stopped_reason=""),
                name="enrollment_stopped_has_reason",
                violation_error_message="A stopped enrollment says why it stopped.",
            ),
            models.CheckConstraint(
                condition=Q(state="stopped", stop_cause__in=EnrollmentStopCause.values)
                | (~Q(state="stopped") & Q(stop_cause="")),
                name="enrollment_stopped_has_cause",
                violation_error_message="A stopped enrollment, and only one, has a stop cause.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.contact} in {self.sequence}"


class ScheduledEmail(models.Model):
    """One step for one enrollment: the row the Emails tab shows and the workers send.

    `sequence`, `contact` and `mailbox` repeat what enrollment and step imply, so that the
    hot queries (the Emails tab, a mailbox's held emails, a contact's blocked emails, the
    dispatcher) read one table and one index at millions of rows.
    """

    Status = ScheduledEmailStatus

    # Statuses the dispatcher picks up once `next_attempt_at` has come.
    DUE_STATUSES = (Status.SCHEDULED, Status.RETRYING)
    # The diagnosis code of a send that was handed over and never confirmed.
    DELIVERY_UNCERTAIN = "pipeline.delivery_uncertain"
    # Still to go out, one day: due, waiting for the previous step, or being sent.
    PENDING_STATUSES = (Status.WAITING, Status.SCHEDULED, Status.RETRYING, Status.SENDING)
    # Not handed to a server yet: each is written from its step when it goes out.
    UNSENT_STATUSES = (Status.WAITING, Status.SCHEDULED, Status.RETRYING, Status.BLOCKED)

    enrollment = models.ForeignKey(Enrollment, on_delete=models.CASCADE, related_name="emails")
    step = models.ForeignKey(Step, on_delete=models.CASCADE, related_name="emails")
    sequence = models.ForeignKey(Sequence, on_delete=models.CASCADE, related_name="emails")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="emails")
    mailbox = models.ForeignKey(Mailbox, on_delete=models.PROTECT, related_name="emails")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.SCHEDULED)
    status_reason = models.CharField(max_length=500, blank=True)
    scheduled_for = models.DateTimeField()
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # When a dispatcher claimed it for sending: a stale claim is recovered, never resent.
    # Kept on a sent email until its follow-ups are released (sending.emails_settle).
    claimed_at = models.DateTimeField(null=True, blank=True)
    attempt_count = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    error_code = models.CharField(max_length=100, blank=True)
    error_category = models.CharField(max_length=32, choices=Category.choices, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    message_id = models.CharField(max_length=255, blank=True)
    # The subject as sent (follow-ups answer it: "Re: " and the first email's subject).
    subject = models.CharField(max_length=998, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                "enrollment", "step", name="scheduled_email_one_per_step_and_enrollment"
            ),
            models.UniqueConstraint(
                "message_id",
                condition=~Q(message_id=""),
                name="scheduled_email_message_id_unique",
            ),
            choices_check("status", ScheduledEmailStatus, "scheduled_email_status_valid"),
            models.CheckConstraint(
                condition=~Q(status="sent") | (Q(sent_at__isnull=False) & ~Q(message_id="")),
                name="scheduled_email_sent_has_time_and_message_id",
            ),
            models.CheckConstraint(
                condition=~Q(status__in=["scheduled", "retrying"])
                | Q(next_attempt_at__isnull=False),
                name="scheduled_email_due_has_next_attempt",
            ),
            models.CheckConstraint(
                condition=~Q(status="sending") | Q(claimed_at__isnull=False),
                name="scheduled_email_sending_is_claimed",
            ),
            models.CheckConstraint(
                condition=~Q(status__in=["blocked", "failed"]) | ~Q(error_code=""),
                name="scheduled_email_error_has_diagnosis",
            ),
            models.CheckConstraint(
                condition=~Q(status="cancelled") | ~Q(status_reason=""),
                name="scheduled_email_cancelled_has_reason",
            ),
        ]
        indexes = [
            # Claims: emails being sent, and sent ones whose follow-ups are not yet settled
            # (the stale-claim recovery finds both).
            models.Index(
                fields=["claimed_at"],
                condition=Q(claimed_at__isnull=False),
                name="scheduled_email_claimed",
            ),
            # The dispatcher's per-mailbox batches: due rows only, a small index even when
            # history is 90% of the table.
            models.Index(
                fields=["mailbox", "next_attempt_at", "id"],
                condition=Q(status__in=["scheduled", "retrying"]),
                name="scheduled_email_due_by_mailbox",
            ),
            # The Emails tab: a sequence's emails in time order, all or by status.
            models.Index(
                fields=["sequence", "scheduled_for", "id"], name="scheduled_email_by_sequence"
            ),
            models.Index(
                fields=["sequence", "status", "scheduled_for", "id"],
                name="scheduled_email_seq_status",
            ),
            # A mailbox's held or pending emails (resync puts them back).
            models.Index(fields=["mailbox", "status"], name="scheduled_email_by_mailbox"),
            # What a broken connection holds: counted on every Emails tab, put back by resync.
            models.Index(
                fields=["mailbox"],
                condition=Q(status="blocked", error_category="mailbox_connection"),
                name="scheduled_email_held",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.step} to {self.contact.email} ({self.status})"


class SendAttempt(models.Model):
    """Every try at sending an email, with the provider's reply kept verbatim."""

    Outcome = SendAttemptOutcome

    email = models.ForeignKey(ScheduledEmail, on_delete=models.CASCADE, related_name="attempts")
    mailbox = models.ForeignKey(Mailbox, on_delete=models.PROTECT, related_name="attempts")
    number = models.PositiveSmallIntegerField(validators=[MinValueValidator(1)])
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    message_id = models.CharField(max_length=255, blank=True)
    raw_error = models.TextField(blank=True)
    error_code = models.CharField(max_length=100, blank=True)
    category = models.CharField(max_length=32, choices=Category.choices, blank=True)
    retry = models.CharField(max_length=16, choices=Retry.choices, blank=True)
    smtp_code = models.PositiveSmallIntegerField(null=True, blank=True)
    enhanced_code = models.CharField(max_length=16, blank=True)
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    provider = models.CharField(max_length=32, blank=True)
    request_id = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["email", "number"]
        constraints = [
            models.UniqueConstraint("email", "number", name="send_attempt_number_unique"),
            choices_check("outcome", SendAttemptOutcome, "send_attempt_outcome_valid"),
            models.CheckConstraint(
                condition=~Q(outcome="failed") | ~Q(raw_error=""),
                name="send_attempt_failure_keeps_raw_error",
            ),
        ]
        indexes = [
            models.Index(fields=["started_at"], name="send_attempt_started"),
            # Pacing: a mailbox's sends in the last minute and since midnight.
            models.Index(fields=["mailbox", "started_at"], name="send_attempt_by_mailbox"),
        ]

    def __str__(self) -> str:
        return f"Attempt {self.number} of email {self.email_id}: {self.outcome}"


class AuditEntry(models.Model):
    """Who did what, when, to what: every fix, and every account review by support."""

    Action = AuditEntryAction

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="audit_entries"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Kept apart from `actor` so the log still says who it was once a user is deleted.
    actor_label = models.CharField(max_length=200)
    action = models.CharField(max_length=32, choices=Action.choices)
    target_type = models.CharField(max_length=50)
    target_id = models.CharField(max_length=50)
    target_label = models.CharField(max_length=500)
    detail = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "audit entries"
        constraints = [choices_check("action", AuditEntryAction, "audit_entry_action_valid")]
        indexes = [
            models.Index(fields=["organization", "-created_at"], name="audit_entry_by_org"),
        ]

    def __str__(self) -> str:
        return f"{self.actor_label} {self.get_action_display().lower()}: {self.target_label}"


class SignInCounter(models.Model):
    """Sign-in attempts of one account from one client address, in the current window.

    Kept in the database, not a cache: a counter must last its window in every setup, and
    be increased atomically by every web process (sequences.auth)."""

    key = models.CharField(max_length=400, primary_key=True)
    attempts = models.PositiveIntegerField()
    window_started_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.key}: {self.attempts}"


class MailboxFolder(models.Model):
    """How far the reader got in one folder of a mailbox: the folder's UIDVALIDITY and the
    last UID read. A new UIDVALIDITY (the folder recreated, the server renumbered it)
    means reading it again from the mailbox's first send; InboundMessage keeps each
    message from being applied twice."""

    mailbox = models.ForeignKey(Mailbox, on_delete=models.CASCADE, related_name="folders")
    name = models.CharField(max_length=255)
    uidvalidity = models.BigIntegerField()
    last_uid = models.BigIntegerField(default=0)
    read_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint("mailbox", "name", name="mailbox_folder_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.mailbox} {self.name} ({self.uidvalidity}:{self.last_uid})"


class InboundMessage(models.Model):
    """A message read from a mailbox, and what it meant, once per mailbox and message.

    `key` is the message's Message-ID (or a hash of its headers when it has none), so that
    a folder renumbered, or the same message in two folders, is applied once. Only what
    support needs is kept: for a report, its machine-readable part and the recipient's
    diagnostic text; for a reply, its headers and time, never the prospect's words.
    """

    Kind = MessageKind

    mailbox = models.ForeignKey(Mailbox, on_delete=models.CASCADE, related_name="inbound")
    key = models.CharField(max_length=255)
    folder = models.CharField(max_length=255)
    uid = models.BigIntegerField()
    kind = models.CharField(max_length=16, choices=MessageKind.choices)
    # When the message says it was written (its Date), else when the server received it.
    received_at = models.DateTimeField()
    read_at = models.DateTimeField(auto_now_add=True)
    email = models.ForeignKey(
        ScheduledEmail, null=True, blank=True, on_delete=models.SET_NULL, related_name="inbound"
    )
    contact = models.ForeignKey(
        Contact, null=True, blank=True, on_delete=models.SET_NULL, related_name="inbound"
    )
    headers = models.TextField(blank=True)
    report = models.TextField(blank=True)
    diagnostic = models.TextField(blank=True)
    error_code = models.CharField(max_length=100, blank=True)
    category = models.CharField(max_length=32, choices=Category.choices, blank=True)
    retry = models.CharField(max_length=16, choices=Retry.choices, blank=True)
    return_date = models.DateField(null=True, blank=True)
    # What applying it did, in words ("Contact bounced", "Next step moved to Mar 3").
    outcome = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["received_at", "id"]
        constraints = [
            models.UniqueConstraint("mailbox", "key", name="inbound_message_once_per_mailbox"),
            choices_check("kind", MessageKind, "inbound_message_kind_valid"),
        ]
        indexes = [
            # The guards: a sequence's bounces and complaints of the last day.
            models.Index(fields=["kind", "read_at"], name="inbound_message_by_kind"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} in {self.mailbox} ({self.folder} {self.uid})"
