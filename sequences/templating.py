"""The language of a step's subject and body: the contact's variables, a few filters, `if`.

A step is written by a customer and rendered by the workers for every contact, so it is
not a Django template: its engine has no tag but `if` (no `include`, `load`, `debug`…),
no filter but those below, no loader, and a variable is one of VARIABLES, never an
attribute of one. A step is checked when it is saved (`validate_step_template`); one that
still fails when its email is written blocks that email only (sequences.services.sending).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator

from django.core.exceptions import ValidationError
from django.template import (
    Engine,
    Library,
    Template,
    TemplateSyntaxError,
    Variable,
    defaultfilters,
    defaulttags,
)
from django.template.base import FilterExpression, Lexer, NodeList, TokenType, VariableNode
from django.template.defaulttags import IfNode

# The variables a step may print, and what each holds (for the messages that list them).
VARIABLES = {
    "first_name": "the contact's first name",
    "last_name": "the contact's last name",
    "full_name": "the contact's full name",
    "company": "the contact's company",
    "job_title": "the contact's job title",
    "email": "the contact's address",
    "sender_name": "the mailbox's display name",
}
TAGS = ("if", "elif", "else", "endif")
FILTERS = ("default", "default_if_none", "upper", "lower", "title", "capfirst")
# Filters that give a variable a fallback: an empty value is then what the step wants.
FALLBACK_FILTERS = frozenset({"default", "default_if_none"})

# This module is the engine's only builtin library.
register = Library()
register.tag("if", defaulttags.do_if)
for _name in FILTERS:
    register.filter(_name, getattr(defaultfilters, _name))


class _StepEngine(Engine):
    default_builtins: list[str] = []


ENGINE = _StepEngine(builtins=[__name__], loaders=[], autoescape=False)


@functools.lru_cache(maxsize=512)
def compiled(source: str) -> Template:
    """A step's subject or body, compiled once per process, not once per email."""
    return ENGINE.from_string(source)


def _condition_expressions(condition: object) -> Iterator[FilterExpression]:
    """The expressions an `if` condition tests (`a and not b == "x"`: a, b and "x")."""
    if condition is None:
        return
    if isinstance(getattr(condition, "value", None), FilterExpression):
        yield condition.value
    yield from _condition_expressions(getattr(condition, "first", None))
    yield from _condition_expressions(getattr(condition, "second", None))


def _variables(nodes: NodeList, *, guarded: bool = False) -> Iterator[tuple[Variable, bool]]:
    """Every variable the template reads, and whether it is printed with nothing to fall
    back on (not inside an `if`, no `default` filter)."""
    for node in nodes:
        expressions: list[FilterExpression] = []
        if isinstance(node, VariableNode):
            expressions = [node.filter_expression]
        elif isinstance(node, IfNode):
            for condition, branch in node.conditions_nodelists:
                expressions += _condition_expressions(condition)
                yield from _variables(branch, guarded=True)
        for expression in expressions:
            fallback = any(f.__name__ in FALLBACK_FILTERS for f, _ in expression.filters)
            if isinstance(expression.var, Variable):
                required = isinstance(node, VariableNode) and not (guarded or fallback)
                yield expression.var, required
            for _, arguments in expression.filters:
                for is_lookup, argument in arguments:
                    if is_lookup:
                        yield argument, False


@functools.lru_cache(maxsize=512)
def required_variables(source: str) -> tuple[tuple[str, Variable], ...]:
    """The variables a step prints with nothing to fall back on: `{{ company }}`, but not
    `{{ company|default:"your team" }}`, nor one inside `{% if company %}`."""
    found = (variable for variable, required in _variables(compiled(source).nodelist) if required)
    return tuple({v.var: (v.var, v) for v in found}.values())


def step_template_problem(source: str) -> str | None:
    """Why `source` is not a step template, in words, or None when it is one."""
    for token in Lexer(source).tokenize():
        words = token.split_contents() if token.token_type == TokenType.BLOCK else TAGS
        if not words or words[0] not in TAGS:
            return (
                f"{{% {' '.join(words[:1])} %}} cannot be used in a step: only "
                f"variables, their filters ({', '.join(FILTERS)}) and "
                "{% if %} … {% else %} … {% endif %}."
            )
    try:
        template = compiled(source)
    except TemplateSyntaxError as error:
        return f"The template does not read: {error}"
    for variable, _ in _variables(template.nodelist):
        if variable.lookups is None:
            continue
        name = ".".join(variable.lookups)
        if len(variable.lookups) != 1 or name not in VARIABLES:
            return (
                f"{{{{ {name} }}}} is not a variable a step can use; they are: "
                f"{', '.join(VARIABLES)}."
            )
    return None


def validate_step_template(source: str) -> None:
    """The model fields' validator: a clear refusal, and nothing saved."""
    problem = step_template_problem(source)
    if problem is not None:
        raise ValidationError(problem, code="step_template")
