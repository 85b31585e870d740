from __future__ import annotations

from django.contrib import admin

from deliverability.models import DomainCheckResult, DomainCheckRun


class DomainCheckResultInline(admin.TabularInline):
    model = DomainCheckResult
    extra = 0
    can_delete = False
    fields = ["kind", "subject", "verdict", "newly_failing", "current", "explanation", "found"]
    readonly_fields = fields


@admin.register(DomainCheckRun)
class DomainCheckRunAdmin(admin.ModelAdmin):
    """The deliverability checks, as the workers recorded them: read-only."""

    list_display = ["started_at", "mailbox", "domain", "scope", "trigger", "finished_at"]
    list_filter = ["scope", "trigger"]
    search_fields = ["domain", "mailbox__email"]
    list_select_related = ["mailbox"]
    readonly_fields = ["mailbox", "domain", "scope", "trigger", "requested_by", "started_at"]
    fields = [*readonly_fields, "finished_at"]
    inlines = [DomainCheckResultInline]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
