from __future__ import annotations

from django.template import Context, Template

from diagnostics.diagnosis import diagnose

RAW = "550 5.1.1 <script>alert(1)</script> <img src=x onerror=alert(1)> User unknown"


def render(value: object) -> str:
    template = Template("{% load diagnostics %}{% diagnosis_explanation value %}")
    return template.render(Context({"value": value}))


def test_it_escapes_the_raw_error() -> None:
    html = render(diagnose(RAW))

    assert "<script>" not in html
    assert "<img" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html


def test_it_renders_title_explanation_side_and_ordered_next_steps() -> None:
    diagnosis = diagnose(RAW)

    html = render(diagnosis)

    assert '<h3 class="diagnosis__title">Recipient address does not exist</h3>' in html
    assert "diagnosis--recipient" in html
    assert "The recipient</strong>" in html
    assert html.count('<li class="diagnosis__step">') == len(diagnosis.next_steps)
    assert '<pre class="diagnosis__raw"><code>550 5.1.1 &lt;script&gt;' in html


def test_it_diagnoses_a_raw_string() -> None:
    assert render(RAW) == render(diagnose(RAW))


def test_it_has_no_inline_script_or_style() -> None:
    html = render(diagnose(RAW)).lower()

    assert "<script" not in html
    assert "style=" not in html
    assert "<style" not in html
