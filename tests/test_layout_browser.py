"""The main pages at a phone's width and a desktop's, in Debian's Chromium: nothing spills
out of the bar, and no page scrolls sideways (a table scrolls inside its own box)."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.urls import reverse

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
WIDTHS = [390, 1440]


@pytest.fixture
def fixables(admin_user, make_fixables, make_email):
    objects = make_fixables(admin_user)
    long = "a.very.long.name.of.a.contact.with.many.parts@subdomain.of.an.example.test"
    make_email(objects.sequence, email=long)
    return objects


def _pages(o) -> dict[str, str]:
    mailbox = o.sequence.mailbox_id
    return {
        "sequences": reverse("sequences:list"),
        "overview": reverse("sequences:overview", args=[o.sequence.pk]),
        "contacts": reverse("sequences:contacts", args=[o.sequence.pk]),
        "emails": reverse("sequences:emails", args=[o.sequence.pk]),
        "timeline": reverse("sequences:email_timeline", args=[o.sequence.pk, o.email.pk]),
        "all contacts": reverse("sequences:contact_list"),
        "mailboxes": reverse("sequences:mailbox_list"),
        "mailbox": reverse("sequences:mailbox_detail", args=[mailbox]),
        "mailbox settings": reverse("sequences:mailbox_edit", args=[mailbox]),
        "connect a mailbox": reverse("sequences:mailbox_connect"),
        "new sequence": reverse("sequences:create"),
        "sequence settings": reverse("sequences:settings", args=[o.sequence.pk]),
        "steps": reverse("sequences:steps", args=[o.sequence.pk]),
        "edit a step": reverse("sequences:step_edit", args=[o.sequence.pk, o.step.pk]),
    }


def _fits(page) -> None:
    width = page.viewport_size["width"]
    assert page.evaluate("document.documentElement.scrollWidth") <= width, page.url
    for element in ("header .brand", "header .who button"):
        box = page.locator(element).bounding_box()
        assert box["x"] >= 0, (page.url, element)
        assert box["x"] + box["width"] <= width, (page.url, element)


@pytest.mark.parametrize("width", WIDTHS)
def test_the_main_pages_fit_the_screen(signed_in, admin_user, live_server, fixables, width):
    page = signed_in(admin_user)
    page.set_viewport_size({"width": width, "height": 900})

    for name, url in _pages(fixables).items():
        page.goto(live_server.url + url)
        _fits(page)
        if name == "emails":
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=ARTIFACTS / f"emails-tab-{width}.png", full_page=True)


@pytest.mark.parametrize("width", WIDTHS)
def test_the_support_pages_fit_the_screen(signed_in, support, live_server, fixables, width):
    page = signed_in(support)
    page.set_viewport_size({"width": width, "height": 900})
    slug = fixables.sequence.organization.slug

    for url in (
        reverse("sequences:organization_list"),
        reverse("sequences:organization_detail", args=[slug]),
    ):
        page.goto(live_server.url + url)
        _fits(page)


def _overlap(a: dict, b: dict) -> bool:
    return not (
        a["x"] + a["width"] <= b["x"]
        or b["x"] + b["width"] <= a["x"]
        or a["y"] + a["height"] <= b["y"]
        or b["y"] + b["height"] <= a["y"]
    )


@pytest.mark.parametrize("width", WIDTHS)
def test_the_account_chart_labels_never_overlap(signed_in, support, live_server, fixables, width):
    page = signed_in(support)
    page.set_viewport_size({"width": width, "height": 900})
    slug = fixables.sequence.organization.slug
    page.goto(live_server.url + reverse("sequences:organization_detail", args=[slug]))

    labels = [text.bounding_box() for text in page.locator(".chart text").all()]
    assert len(labels) >= 5 + 2 + 2  # dates, counts, the axes' titles
    for n, box in enumerate(labels):
        assert not any(_overlap(box, other) for other in labels[n + 1 :]), box
    assert "Sent" in page.locator(".chart-legend").inner_text()
    ARTIFACTS.mkdir(exist_ok=True)
    page.locator(".chart-figure").screenshot(path=ARTIFACTS / f"account-chart-{width}.png")
