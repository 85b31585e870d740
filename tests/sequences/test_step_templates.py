"""A step's template language: contact variables, a few filters and `if`, nothing else."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.template import Context
from django.urls import reverse

from sequences.models import Step
from sequences.templating import compiled, required_variables, validate_step_template

HOSTILE = {
    '{% include "sequences/sequence_emails.html" %}': "{% include %} cannot be used in a step",
    "{% load static %}{% static 'x' %}": "{% load %} cannot be used in a step",
    "{% debug %}": "{% debug %} cannot be used in a step",
    "{% now 'Y' %}": "{% now %} cannot be used in a step",
    "{% %}": "{%  %} cannot be used in a step",
    "Hi {% if %}": "The template does not read: Unexpected end of expression in if tag",
    "Hi {% if company %}": "The template does not read: Unclosed tag on line 1: 'if'",
    "{{ first_name|safe }}": "The template does not read: Invalid filter: 'safe'",
    "{{ first_name.upper }}": "{{ first_name.upper }} is not a variable a step can use",
    "{{ settings }}": "{{ settings }} is not a variable a step can use",
    "{% if request.user %}x{% endif %}": "{{ request.user }} is not a variable",
    "{{ company|default:secret }}": "{{ secret }} is not a variable a step can use",
}


@pytest.mark.parametrize(("source", "reason"), list(HOSTILE.items()))
def test_it_refuses_anything_but_the_step_language(source, reason):
    with pytest.raises(ValidationError) as refused:
        validate_step_template(source)

    assert refused.value.messages[0].startswith(reason)


@pytest.mark.parametrize(
    "source",
    [
        "Hi {{ first_name }}, a question about {{ company|default:'your team' }}",
        "{% if job_title %}As {{ job_title|lower }}{% else %}Hello{% endif %}, {{ full_name }}",
        "{% if not company == 'Acme' and email %}{{ sender_name|upper }}{% endif %}",
        "No variable at all: {# a comment #} 100% plain",
    ],
)
def test_it_accepts_what_a_step_writes(source):
    validate_step_template(source)


def test_it_renders_only_the_variables_it_is_given():
    template = compiled("{{ first_name|title }} at {{ company|default:'your team' }}")

    assert template.render(Context({"first_name": "pat", "company": ""})) == "Pat at your team"


def test_it_knows_which_variables_a_step_prints_without_a_fallback():
    source = "{% if company %}{{ company }}{% endif %}{{ first_name }} {{ job_title|default:'' }}"

    assert [name for name, _ in required_variables(source)] == ["first_name"]


@pytest.fixture
def staff(db):
    return get_user_model().objects.create_superuser("root", password="pw")


def test_the_admin_saves_no_step_with_a_hostile_template(client, staff, rep, make_sequence):
    sequence = make_sequence(rep, steps=1)
    step = sequence.steps.get()
    client.force_login(staff)
    form = {
        "name": sequence.name,
        "organization": sequence.organization_id,
        "owner": sequence.owner_id,
        "mailbox": sequence.mailbox_id,
        "steps-TOTAL_FORMS": "1",
        "steps-INITIAL_FORMS": "1",
        "steps-0-id": step.pk,
        "steps-0-sequence": sequence.pk,
        "steps-0-position": "1",
        "steps-0-wait_days": "0",
        "steps-0-subject": "Hello {{ first_name }}",
        "steps-0-body": "{% debug %}",
    }

    response = client.post(reverse("admin:sequences_sequence_change", args=[sequence.pk]), form)

    assert response.status_code == 200
    assert "{% debug %} cannot be used in a step" in response.text
    assert Step.objects.get(pk=step.pk).body == step.body
