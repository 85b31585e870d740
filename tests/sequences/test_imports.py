"""CSV imports of contacts: the upload, the mapping with its preview, the worker's import
row by row, and what a crash leaves (a re-run finishes it, nothing twice)."""

from __future__ import annotations

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from sequences.models import AuditEntry, Contact, ContactImport, Enrollment
from sequences.services import imports
from sequences.services.imports import contact_import_run, contact_import_start
from tests.support import wait_for

pytestmark = pytest.mark.django_db
Status = ContactImport.Status

# Lines 3-7 are refused: an invalid address, a row short of columns, a duplicate of line 2
# in the file, an address a contact already has, and no address at all.
BAD_ROWS = (
    "E-mail,First name,Last name,Company\n"
    "ann@example.test,Ann,Archer,Acme\n"
    "not-an-address,Bob,Baker,Acme\n"
    "cid@example.test,Cid\n"
    "ANN@example.test,Ann,Again,Acme\n"
    "old@example.test,Old,Timer,Acme\n"
    ",Nobody,None,Acme\n"
    "\n"
    '"dee@example.test","Dee","O\'Neil","Dee, Inc."\n'
)
REFUSED = [
    (
        3,
        "not-an-address",
        "This is not a valid email address: An email address must have an @-sign.",
    ),
    (4, "cid@example.test", "Missing column(s): Last name, Company."),
    (5, "ANN@example.test", "Duplicate: the same address as line 2."),
    (6, "old@example.test", "Already a contact of your organization."),
    (7, "", "No email address."),
]
MAPPING = {"email": "0", "first_name": "1", "last_name": "2", "company": "3"}


@pytest.fixture
def existing(organization):
    return Contact.objects.create(organization=organization, email="old@example.test")


def _refused(contact_import: ContactImport) -> list[tuple[int, str, str]]:
    return list(contact_import.refusals.values_list("line", "email", "reason"))


def test_it_shows_the_first_rows_and_guesses_the_columns(client, admin_user, make_import):
    contact_import = make_import(admin_user, BAD_ROWS)
    client.force_login(admin_user)

    response = client.get(reverse("sequences:contact_import", args=[contact_import.pk]))

    body = response.content.decode()
    assert contact_import.total_rows == 8
    assert "<td>ann@example.test</td>" in body
    assert "<td>not-an-address</td>" in body
    assert "dee@example.test" not in body  # the preview's five rows end before it
    form = response.context["form"]
    assert form.initial == {"email": 0, "first_name": 1, "last_name": 2, "company": 3}


def test_it_refuses_a_mapping_without_the_address(client, admin_user, make_import):
    contact_import = make_import(admin_user, BAD_ROWS)
    client.force_login(admin_user)

    response = client.post(
        reverse("sequences:contact_import_start", args=[contact_import.pk]), {"first_name": "1"}
    )

    assert response.status_code == 400
    assert "Choose the column that holds the email address." in response.content.decode()
    contact_import.refresh_from_db()
    assert contact_import.status == Status.UPLOADED


def test_it_refuses_a_file_over_the_size_limit(client, admin_user, import_dir, settings):
    settings.CONTACT_IMPORT_MAX_BYTES = 2**20
    client.force_login(admin_user)
    big = SimpleUploadedFile("big.csv", b"email\n" + b"x@example.test\n" * 80_000)

    response = client.post(reverse("sequences:contact_import_new"), {"file": big})

    assert "The file is larger than 1 MB: split it." in response.content.decode()
    assert not ContactImport.objects.exists()
    assert not import_dir.exists()


def test_it_refuses_a_file_that_is_not_utf8(client, admin_user, import_dir):
    client.force_login(admin_user)
    latin1 = SimpleUploadedFile("latin1.csv", "email,name\nz@example.test,Zoë\n".encode("latin-1"))

    response = client.post(reverse("sequences:contact_import_new"), {"file": latin1})

    assert "This is not a CSV file in UTF-8" in response.content.decode()
    assert not ContactImport.objects.exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_a_worker_imports_the_valid_rows_and_lists_every_refused_one(
    client, admin_user, existing, import_dir, workers
):
    workers.start("importer", CONTACT_IMPORT_DIR=str(import_dir))
    client.force_login(admin_user)
    upload = SimpleUploadedFile("leads.csv", BAD_ROWS.encode("utf-8-sig"))
    response = client.post(reverse("sequences:contact_import_new"), {"file": upload})
    contact_import = ContactImport.objects.get()
    assert response.url == reverse("sequences:contact_import", args=[contact_import.pk])

    client.post(reverse("sequences:contact_import_start", args=[contact_import.pk]), MAPPING)

    done = wait_for(
        lambda: ContactImport.objects.filter(pk=contact_import.pk, status=Status.DONE).first(),
        what="the import",
    )
    assert (done.imported_count, done.refused_count) == (2, 5)
    assert _refused(done) == REFUSED
    dee = Contact.objects.get(email="dee@example.test")
    assert (dee.first_name, dee.last_name, dee.company) == ("Dee", "O'Neil", "Dee, Inc.")
    assert (dee.contact_import_id, dee.added_by) == (done.pk, admin_user)
    assert not list(import_dir.iterdir())  # the upload is gone once imported
    page = client.get(
        reverse("sequences:contact_import", args=[done.pk]), headers={"HX-Request": "true"}
    )
    assert "No email address." in page.content.decode()
    assert "hx-trigger" not in page.content.decode()  # finished: it polls no more
    download = client.get(reverse("sequences:contact_import_refusals", args=[done.pk]))
    rows = list(csv.reader(io.StringIO(b"".join(download.streaming_content).decode())))
    assert rows[0] == ["Line", "Email", "Reason"]
    assert rows[1:] == [[str(line), email, reason] for line, email, reason in REFUSED]
    assert AuditEntry.objects.filter(action=AuditEntry.Action.IMPORT_CONTACTS).count() == 1


def test_a_running_import_polls_its_progress(client, admin_user, make_import):
    contact_import = make_import(admin_user, BAD_ROWS)
    ContactImport.objects.filter(pk=contact_import.pk).update(status=Status.RUNNING, rows_done=4)
    client.force_login(admin_user)

    page = client.get(reverse("sequences:contact_import", args=[contact_import.pk]))

    body = page.content.decode()
    assert 'hx-trigger="every 1s"' in body
    assert '<progress max="100" value="50"' in body


def test_a_crashed_import_resumes_where_it_stopped_and_imports_nothing_twice(
    admin_user, existing, make_import, monkeypatch
):
    monkeypatch.setattr(imports, "BATCH", 2)
    contact_import = make_import(admin_user, BAD_ROWS)
    contact_import_start(
        actor=admin_user,
        contact_import=contact_import,
        mapping={field: int(column) for field, column in MAPPING.items()},
    )
    real = imports._import_batch
    calls = []

    def dies_on_the_third_batch(*args):
        calls.append(1)
        if len(calls) == 3:
            raise ConnectionError("the worker's database went away")
        real(*args)

    monkeypatch.setattr(imports, "_import_batch", dies_on_the_third_batch)
    with pytest.raises(ConnectionError):
        contact_import_run(import_id=contact_import.pk)
    halfway = ContactImport.objects.get(pk=contact_import.pk)
    assert (halfway.status, halfway.rows_done) == (Status.RUNNING, 4)

    done = contact_import_run(import_id=contact_import.pk)

    assert done.status == Status.DONE
    assert (done.imported_count, done.refused_count) == (2, 5)
    assert _refused(done) == REFUSED
    assert Contact.objects.filter(contact_import=done).count() == 2
    # Run again (a duplicate delivery of the task): nothing changes.
    contact_import_run(import_id=contact_import.pk)
    assert Contact.objects.filter(contact_import=done).count() == 2


def test_it_enrolls_an_imports_contacts_into_a_sequence(
    client, admin_user, make_import, make_sequence
):
    sequence = make_sequence(admin_user, steps=1)
    contact_import = make_import(admin_user, "email\nann@example.test\nbob@example.test\n")
    contact_import_start(actor=admin_user, contact_import=contact_import, mapping={"email": 0})
    contact_import_run(import_id=contact_import.pk)
    Contact.objects.create(organization=sequence.organization, email="other@example.test")
    client.force_login(admin_user)
    page = client.get(reverse("sequences:contact_import", args=[contact_import.pk]))
    assert "Enroll these contacts into" in page.content.decode()

    client.post(
        reverse("sequences:contacts_enroll"), {"sequence": sequence.pk, "import": contact_import.pk}
    )

    assert set(Enrollment.objects.values_list("contact__email", flat=True)) == {
        "ann@example.test",
        "bob@example.test",
    }
