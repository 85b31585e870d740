from __future__ import annotations

from django import forms
from django.contrib import admin

from sequences.forms import MailboxSettingsForm
from sequences.models import (
    AuditEntry,
    Contact,
    Enrollment,
    Mailbox,
    Membership,
    Organization,
    ScheduledEmail,
    SendAttempt,
    Sequence,
    Step,
)


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "reps_may_edit_contacts", "created_at"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "role", "organization"]
    list_filter = ["role", "organization"]
    search_fields = ["user__username", "user__email", "organization__name"]
    list_select_related = ["user", "organization"]


class MailboxForm(forms.ModelForm):
    # Write-only: the stored secret is never sent back to the browser.
    new_password = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Leave empty to keep the current password.",
    )

    class Meta:
        model = Mailbox
        # The settings the product's own form changes, and what only the admin sets.
        fields = [
            "organization",
            "owner",
            "email",
            "provider",
            *MailboxSettingsForm.Meta.fields,
            "dkim_selectors",
        ]

    def clean(self) -> dict[str, object]:
        cleaned = super().clean()
        signs_in = self.instance.smtp_secret or self.instance.uses_oauth
        if not signs_in and not cleaned.get("new_password"):
            self.add_error("new_password", "A new mailbox needs its SMTP password.")
        return cleaned

    def save(self, commit: bool = True) -> Mailbox:
        if self.cleaned_data.get("new_password"):
            self.instance.password = self.cleaned_data["new_password"]
        return super().save(commit=commit)


@admin.register(Mailbox)
class MailboxAdmin(admin.ModelAdmin):
    form = MailboxForm
    list_display = ["email", "organization", "owner", "provider", "state", "last_checked_at"]
    list_filter = ["state", "provider", "organization"]
    search_fields = ["email", "smtp_host", "smtp_username", "last_error"]
    list_select_related = ["organization", "owner"]
    # States change through the services (sending, resync), never by hand here.
    readonly_fields = ["state", "paused_until", "last_error", "last_error_code", "last_checked_at"]


class StepInline(admin.TabularInline):
    model = Step
    extra = 0


@admin.register(Sequence)
class SequenceAdmin(admin.ModelAdmin):
    list_display = ["name", "organization", "owner", "mailbox", "state"]
    list_filter = ["state", "organization"]
    search_fields = ["name", "owner__username", "mailbox__email"]
    list_select_related = ["organization", "owner", "mailbox"]
    inlines = [StepInline]


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin):
    list_display = ["email", "first_name", "last_name", "company", "organization", "state"]
    list_filter = ["state", "organization"]
    search_fields = ["email", "first_name", "last_name", "company"]
    list_select_related = ["organization"]
    # Bounced, suppressed, unsubscribed: set by the services, with the enrollments they stop.
    readonly_fields = ["state", "state_reason"]


@admin.register(Enrollment)
class EnrollmentAdmin(admin.ModelAdmin):
    list_display = ["contact", "sequence", "state", "stop_cause", "stopped_reason", "enrolled_at"]
    list_filter = ["state", "stop_cause", "sequence__organization"]
    search_fields = ["contact__email", "sequence__name"]
    list_select_related = ["contact", "sequence"]
    raw_id_fields = ["contact", "sequence"]
    readonly_fields = ["state", "stop_cause", "stopped_reason"]


class SendAttemptInline(admin.TabularInline):
    model = SendAttempt
    extra = 0
    can_delete = False
    readonly_fields = [
        "number",
        "started_at",
        "outcome",
        "raw_error",
        "error_code",
        "category",
        "message_id",
    ]
    fields = readonly_fields


@admin.register(ScheduledEmail)
class ScheduledEmailAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "contact",
        "sequence",
        "step",
        "status",
        "error_category",
        "scheduled_for",
        "attempt_count",
    ]
    list_filter = ["status", "error_category", "sequence__organization"]
    search_fields = ["contact__email", "message_id", "last_error", "error_code"]
    list_select_related = ["contact", "sequence", "step"]
    raw_id_fields = ["enrollment", "step", "sequence", "contact", "mailbox"]
    date_hierarchy = "scheduled_for"
    inlines = [SendAttemptInline]
    show_full_result_count = False


@admin.register(SendAttempt)
class SendAttemptAdmin(admin.ModelAdmin):
    list_display = ["email", "number", "started_at", "outcome", "error_code", "category"]
    list_filter = ["outcome", "category", "retry", "provider"]
    search_fields = ["raw_error", "message_id", "request_id", "error_code"]
    raw_id_fields = ["email", "mailbox"]
    show_full_result_count = False


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    list_display = ["created_at", "actor_label", "action", "target_label", "organization"]
    list_filter = ["action", "organization"]
    search_fields = ["actor_label", "target_label", "target_id"]
    date_hierarchy = "created_at"

    # Append-only: entries are written by the product's services, never by hand.
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
