"""A person imports a CSV in Debian's Chromium: upload, map the columns over the preview,
watch the progress to the end (a real worker imports it), and read the refused row."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from sequences.models import Contact

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"


def test_it_imports_a_csv_and_lists_the_refused_row(
    signed_in, admin_user, live_server, workers, import_dir, tmp_path
):
    workers.start("importer", CONTACT_IMPORT_DIR=str(import_dir))
    leads = tmp_path / "leads.csv"
    rows = [f"lead{n}@example.test,Lead{n},Co {n}" for n in range(1, 300)]
    rows.insert(41, "lead-at-example.test,Broken,Co")  # line 43, the header being 1
    leads.write_text("Mail,Given,Employer\n" + "\n".join(rows) + "\n")
    page = signed_in(admin_user)
    page.goto(live_server.url + reverse("sequences:contact_list"))

    page.get_by_role("link", name="Import a CSV file").click()
    page.get_by_label("CSV file").set_input_files(leads)
    page.get_by_role("button", name="Upload, then map the columns").click()

    preview = page.locator("#preview")
    expect(preview.locator("tbody tr")).to_have_count(5)
    expect(preview).to_contain_text("lead2@example.test")
    page.get_by_label("Email address").select_option(label="Mail")
    page.get_by_label("First name").select_option(label="Given")
    page.get_by_label("Company").select_option(label="Employer")
    page.get_by_role("button", name="Import").click()

    progress = page.locator("#import-progress")
    expect(progress.locator(".import-status")).to_have_text("Done", timeout=30_000)
    expect(progress.locator("progress")).to_have_attribute("value", "100")
    expect(progress).to_contain_text("299 imported")
    expect(progress).to_contain_text("1 refused")
    refused = page.locator("#refusals tbody tr")
    expect(refused).to_have_count(1)
    expect(refused).to_contain_text("43")
    expect(refused).to_contain_text("lead-at-example.test")
    expect(refused).to_contain_text("An email address must have an @-sign.")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "contact-import.png", full_page=True)
    assert Contact.objects.get(email="lead7@example.test").company == "Co 7"
