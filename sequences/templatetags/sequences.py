from __future__ import annotations

import functools

from django import template
from django.template import TemplateSyntaxError
from django.urls import reverse

from diagnostics.diagnosis import Diagnosis
from diagnostics.vocabulary import Category, Fix
from sequences.models import ScheduledEmail, Sequence
from sequences.permissions import fixes_for_an_admin
from sequences.services.emails import email_reschedulable
from sequences.services.sending import render_subject

register = template.Library()


@register.filter
def subject(email: ScheduledEmail) -> str:
    """The email's subject as it was sent, as its contact will receive it, or as written
    if it cannot render.

    A broken step template blocks its emails when they are sent (with the error); the
    pages listing them must still open.
    """
    if email.subject:
        return email.subject
    try:
        return render_subject(email)
    except TemplateSyntaxError:
        return email.step.subject


# A row's checkbox only where "Reschedule selected" would act on it.
register.filter("reschedulable", email_reschedulable)


@register.filter
def for_an_admin(diagnosis: Diagnosis, mine: set[str]) -> str:
    """What of the diagnosis's fixes only an admin may do, for a viewer who may `mine`, in
    words ("suppress the contact or edit the contact's address"), or ""."""
    labels = [Fix(fix).label for fix in fixes_for_an_admin(mine, diagnosis.fixes)]
    return " or ".join(label[0].lower() + label[1:] for label in labels)


@register.filter
def hold_reason(sequence: Sequence, email: ScheduledEmail) -> str:
    """Why the sequence holds this email back now ("" when it does not, or it is not due)."""
    if email.status not in ScheduledEmail.DUE_STATUSES:
        return ""
    return sequence.hold_reason(email.step.position)


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


CHART_HEIGHT, BAR_WIDTH, GAP = 120, 14, 4
# Room on the left for the count axis; a date under every LABEL_EVERY-th bar, counted
# back from today's, so that dates never overlap whatever day the month starts on.
AXIS_WIDTH, LABEL_EVERY = 34, 7


def _category_label(category: str) -> str:
    return Category(category).label if category in Category.values else "Unknown error"


@register.inclusion_tag("sequences/_daily_chart.html")
def daily_chart(bars: list) -> dict[str, object]:
    """Stacked bars, drawn on the server: sends at the bottom, failures by cause above,
    with a count axis, dates under the bars and a legend of what the colours mean."""
    peak = max((bar.sent + bar.failed for bar in bars), default=0) or 1
    scale = CHART_HEIGHT / peak
    columns, legend = [], {"sent": "Sent"}
    for index, bar in enumerate(bars):
        x, top, segments = AXIS_WIDTH + index * (BAR_WIDTH + GAP), CHART_HEIGHT, []
        for kind, label, count in [("sent", "sent", bar.sent)] + [
            (f"cat-{category or 'unknown'}", _category_label(category), n)
            for category, n in bar.failures
        ]:
            height = count * scale
            top -= height
            segments.append({"kind": kind, "label": label, "count": count, "y": top, "h": height})
            if count:
                legend.setdefault(kind, label)
        dated = (len(bars) - 1 - index) % LABEL_EVERY == 0
        columns.append({"x": x, "middle": x + BAR_WIDTH / 2, "day": bar.day, "dated": dated})
        columns[-1]["segments"] = segments
    ticks = sorted({0, peak // 2, peak})
    return {
        "columns": columns,
        "width": AXIS_WIDTH + len(bars) * (BAR_WIDTH + GAP),
        "axis": AXIS_WIDTH - 4,
        "ticks": [{"value": n, "y": CHART_HEIGHT - n * scale} for n in ticks],
        "legend": legend,
        "height": CHART_HEIGHT,
        "bar_width": BAR_WIDTH,
        "peak": peak,
    }
