from __future__ import annotations

from django import template

from sequences.models import ScheduledEmail
from sequences.services.sending import render_subject

register = template.Library()


@register.filter
def subject(email: ScheduledEmail) -> str:
    """The email's subject as its contact receives it."""
    return render_subject(email)
