from __future__ import annotations

import functools

from django import template
from django.urls import reverse

from sequences.models import ScheduledEmail
from sequences.services.sending import render_subject

register = template.Library()


@register.filter
def subject(email: ScheduledEmail) -> str:
    """The email's subject as its contact receives it."""
    return render_subject(email)


# A sentinel id in a reversed URL, replaced by each row's: one reverse() per page and
# route instead of one per row and link (the Emails tab renders hundreds of them).
_SENTINEL = 987_654_321


@functools.lru_cache(maxsize=256)
def _pattern(name: str, *fixed: object) -> str:
    return reverse(name, args=[*fixed, _SENTINEL])


@register.simple_tag
def row_url(name: str, *args: object) -> str:
    """`{% url %}` for a row's link: the last argument is the row's id."""
    *fixed, row_id = args
    return _pattern(name, *fixed).replace(str(_SENTINEL), str(int(row_id)))
