"""Forms of the product's own pages (the sign-in forms are in sequences.auth)."""

from __future__ import annotations

from django import forms

from sequences.models import Mailbox, Sequence, Step, validate_time_zone
from sequences.services.imports import FIELDS as IMPORT_FIELDS


class MailboxSettingsForm(forms.ModelForm):
    """A mailbox's server, sign-in, caps and sending window. The password is write-only:
    never rendered, and left empty it stays as it is."""

    password = forms.CharField(
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Leave empty to keep the current one. An app password for Google or "
        "Microsoft accounts with two-step verification.",
    )
    imap_password = forms.CharField(
        label="IMAP password",
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Only if reading the mailbox takes another password than sending; leave "
        "empty to keep the current one.",
    )

    class Meta:
        model = Mailbox
        fields = [
            "display_name",
            "smtp_host",
            "smtp_port",
            "smtp_security",
            "smtp_username",
            "daily_limit",
            "per_minute_limit",
            "time_zone",
            "sending_days",
            "window_start",
            "window_end",
            "imap_host",
            "imap_port",
            "imap_security",
            "imap_username",
            "imap_folders",
            "imap_sent_folder",
        ]
        labels = {
            "smtp_host": "SMTP server",
            "smtp_port": "Port",
            "smtp_security": "Encryption",
            "smtp_username": "Username",
            "daily_limit": "At most a day",
            "per_minute_limit": "At most a minute",
            "sending_days": "Sending days (1 = Monday … 7 = Sunday)",
            "window_start": "Sends from",
            "window_end": "Sends until",
            "imap_host": "IMAP server (reads bounces and replies)",
            "imap_port": "IMAP port",
            "imap_security": "IMAP encryption",
            "imap_username": "IMAP username",
            "imap_folders": "Folders read",
            "imap_sent_folder": "Sent folder",
        }
        help_texts = {
            "imap_host": "Empty: the mailbox is not read, and replies do not stop sequences.",
            "imap_username": "Empty: the SMTP username (and password).",
            "imap_folders": "Comma-separated: the inbox and the spam folder.",
            "imap_sent_folder": "Where the server keeps what it sent: an uncertain send "
            "found there is recorded as sent.",
        }
        widgets = {
            "window_start": forms.TimeInput(attrs={"type": "time"}),
            "window_end": forms.TimeInput(attrs={"type": "time"}),
        }

    # Reading the mailbox: a form posted without them (an older page, the admin's) leaves
    # the mailbox's own.
    IMAP_FIELDS = (
        "imap_host",
        "imap_port",
        "imap_security",
        "imap_username",
        "imap_folders",
        "imap_sent_folder",
    )

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.uses_oauth:  # signs in with the provider's consent instead
            del self.fields["password"], self.fields["imap_password"]
        for name in self.IMAP_FIELDS:
            self.fields[name].required = False

    # Never empty: left empty, the mailbox keeps its own.
    NEVER_EMPTY = ("imap_port", "imap_security", "imap_folders")

    def _kept(self, name: str) -> bool:
        """Whether the mailbox keeps its own value of this field, whatever was posted."""
        if name not in self.IMAP_FIELDS or not self.is_bound:
            return False
        return name not in self.data or (name in self.NEVER_EMPTY and not self.data[name])

    def clean(self) -> dict[str, object]:
        cleaned = super().clean()
        for name in self.IMAP_FIELDS:
            if self._kept(name):
                cleaned[name] = getattr(self.instance, name)
        daily, per_minute = Mailbox.SENDING_LIMITS[self.instance.provider]
        provider = self.instance.get_provider_display()
        if (cleaned.get("daily_limit") or 0) > daily:
            self.add_error("daily_limit", f"{provider} sends at most {daily:,} a day.")
        if (cleaned.get("per_minute_limit") or 0) > per_minute:
            self.add_error("per_minute_limit", f"{provider} sends at most {per_minute} a minute.")
        return cleaned

    def apply(self) -> list[str]:
        """Put the new password (if one was given) on the mailbox, and return the model
        fields to save: those changed, and the secret with a new password."""
        fields = [
            name
            for name in self.changed_data
            if name not in ("password", "imap_password") and not self._kept(name)
        ]
        if self.cleaned_data.get("password"):
            self.instance.password = self.cleaned_data["password"]
            fields.append("smtp_secret")
        if self.cleaned_data.get("imap_password"):
            self.instance.imap_password = self.cleaned_data["imap_password"]
            fields.append("imap_secret")
        return fields


# Where each provider's mailboxes send from (SMTP submission with STARTTLS). Google and
# Microsoft accounts sign in with an app password here.
PROVIDER_SERVERS = {
    Mailbox.Provider.GMAIL: ("smtp.gmail.com", 587),
    Mailbox.Provider.MICROSOFT: ("smtp.office365.com", 587),
}


class MailboxConnectForm(MailboxSettingsForm):
    """A new mailbox: its address and provider first, then the settings; a password is
    needed unless the server relays without a sign-in (no username)."""

    class Meta(MailboxSettingsForm.Meta):
        fields = ["email", "provider", *MailboxSettingsForm.Meta.fields]

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        host, port = PROVIDER_SERVERS.get(self.initial.get("provider"), ("", 587))
        self.initial["smtp_host"] = self.initial.get("smtp_host") or host
        self.initial["smtp_port"] = port
        preset = Mailbox.IMAP_PRESETS.get(self.initial.get("provider"))
        if preset:
            for name, value in zip(
                ("imap_host", "imap_port", "imap_folders", "imap_sent_folder"), preset, strict=True
            ):
                self.initial[name] = self.initial.get(name) or value
        self.fields[
            "password"
        ].help_text = "An app password for Google or Microsoft accounts with two-step verification."

    def clean(self) -> dict[str, object]:
        # The provider's limits apply to the provider chosen on this form.
        self.instance.provider = self.cleaned_data.get("provider") or self.instance.provider
        cleaned = super().clean()
        if cleaned.get("smtp_username") and not cleaned.get("password"):
            self.add_error("password", "The password to sign in as this username.")
        return cleaned


class OAuthConnectForm(forms.Form):
    """A new Google or Microsoft mailbox signed in with OAuth: its address, then the
    provider's consent (which also says which account it is)."""

    email = forms.EmailField(label="Address")

    def __init__(self, *args: object, organization_id: int, **kwargs: object) -> None:
        # Beside the connect form on one page: ids of its own.
        kwargs.setdefault("auto_id", "id_oauth_%s")
        super().__init__(*args, **kwargs)
        self.organization_id = organization_id

    def clean_email(self) -> str:
        email = self.cleaned_data["email"]
        mailboxes = Mailbox.objects.filter(organization_id=self.organization_id)
        if mailboxes.filter(email__iexact=email).exists():
            raise forms.ValidationError(
                "This organization already has a mailbox with this address: sign it in "
                "again from its page."
            )
        return email


class SequenceNameForm(forms.ModelForm):
    """A sequence's name, unique in its organization (the form has no organization field,
    so the model's constraint is checked here, with its message)."""

    class Meta:
        model = Sequence
        fields = ["name"]

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        taken = Sequence.objects.filter(organization_id=self.instance.organization_id, name=name)
        if taken.exclude(pk=self.instance.pk).exists():
            raise forms.ValidationError("This organization already has a sequence with this name.")
        return name


class SequenceCreateForm(SequenceNameForm):
    """A new sequence: its name, the mailbox it sends from (among those the user may send
    from) and, for an admin, its owner."""

    class Meta(SequenceNameForm.Meta):
        fields = ["name", "mailbox", "owner"]
        labels = {"mailbox": "Sends from"}

    def __init__(self, *args: object, mailboxes: object, owners: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.fields["mailbox"].queryset = mailboxes
        self.fields["mailbox"].empty_label = None
        if owners is None:
            del self.fields["owner"]
        else:
            self.fields["owner"].queryset = owners
            self.fields["owner"].empty_label = None
            self.fields["owner"].label_from_instance = lambda u: u.get_full_name() or u.username


class SequenceMailboxForm(forms.Form):
    mailbox = forms.ModelChoiceField(queryset=Mailbox.objects.none(), empty_label=None)

    def __init__(self, *args: object, mailboxes: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.fields["mailbox"].queryset = mailboxes
        self.fields["mailbox"].label = "Sends from"


class StepForm(forms.ModelForm):
    """A step's subject, body and wait; the templates are checked by the model's
    validator (sequences.templating), whose message names the variables a step can use."""

    class Meta:
        model = Step
        fields = ["subject", "body", "wait_days"]
        labels = {"wait_days": "Wait (days after the previous step)"}
        error_messages = {
            "subject": {"required": "A step needs a subject."},
            "body": {"required": "A step needs a body."},
        }
        widgets = {"body": forms.Textarea(attrs={"rows": 10, "cols": 70})}


class ContactForm(forms.Form):
    """A contact's address and details. The address is checked by the contact services,
    by the one rule (sequences.addresses), which say why they refuse it."""

    email = forms.CharField(label="Email address", max_length=320)
    first_name = forms.CharField(max_length=100, required=False)
    last_name = forms.CharField(max_length=100, required=False)
    company = forms.CharField(max_length=200, required=False)
    job_title = forms.CharField(max_length=200, required=False)
    time_zone = forms.CharField(
        max_length=64, initial="UTC", validators=[validate_time_zone], help_text="e.g. Europe/Paris"
    )


class ContactImportMappingForm(forms.Form):
    """Which column of the file each contact field is read from (by position: two columns
    may share a name)."""

    def __init__(self, *args: object, headers: list[str], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        columns = [("", "— not imported —")] + [
            (str(i), header or f"Column {i + 1}") for i, header in enumerate(headers)
        ]
        for name in IMPORT_FIELDS:
            label = "Email address" if name == "email" else name.replace("_", " ").capitalize()
            self.fields[name] = forms.TypedChoiceField(
                label=label,
                choices=columns,
                coerce=int,
                empty_value=None,
                required=name == "email",
                error_messages={"required": "Choose the column that holds the email address."},
            )

    def mapping(self) -> dict[str, int]:
        return {name: i for name, i in self.cleaned_data.items() if i is not None}


class ContactImportUploadForm(forms.Form):
    file = forms.FileField(label="CSV file", help_text="UTF-8, the first line naming the columns.")
