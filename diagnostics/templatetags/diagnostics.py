"""`{% diagnosis_explanation diagnosis %}`: the diagnosis fragment of the Emails tab."""

from __future__ import annotations

from django import template

from diagnostics.diagnosis import Diagnosis, diagnose

register = template.Library()


@register.inclusion_tag("diagnostics/explanation.html")
def diagnosis_explanation(diagnosis: Diagnosis | str) -> dict[str, Diagnosis]:
    """Renders a diagnosis; a raw error string is diagnosed first."""
    if isinstance(diagnosis, str):
        diagnosis = diagnose(diagnosis)
    return {"diagnosis": diagnosis}
