"""Contact imports from CSV: the upload, its columns mapped, then a worker's import.

The file is streamed at every step, never read whole. The worker commits it in batches,
each with the contacts it adds, the rows it refuses and the record it reached, in one
transaction: a task that dies is run again from there (CELERY_TASK_ACKS_LATE and the
task's retries), so a row is never imported twice nor lost, whatever the crash.
"""

from __future__ import annotations

import codecs
import csv
import itertools
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models.functions import Lower
from django.utils import timezone

from sequences.models import (
    AuditEntry,
    Contact,
    ContactImport,
    ContactImportRefusal,
    validate_time_zone,
)
from sequences.services.audit import audit_record
from sequences.services.contacts import DETAIL_FIELDS, contact_normalize_email
from sequences.services.errors import WrongState

Status = ContactImport.Status
# The contact fields a column may fill, the address first (the only one required).
FIELDS = ("email", *DETAIL_FIELDS)
# Rows per transaction: each batch costs one duplicate lookup and two bulk inserts.
BATCH = 1_000
CHUNK = 64 * 1024
# The file's encoding: UTF-8, with or without the byte-order mark spreadsheets write.
ENCODING = "utf-8-sig"


def _path(contact_import: ContactImport) -> Path:
    return Path(settings.CONTACT_IMPORT_DIR) / contact_import.stored_as


def _header(path: Path) -> list[str]:
    with path.open(encoding=ENCODING, newline="") as text:
        return next(csv.reader(text), [])


def _records(path: Path) -> Iterator[tuple[int, list[str]]]:
    """Each record after the header, with the line it starts on (blank lines skipped),
    streamed: the csv module reads a line at a time."""
    with path.open(encoding=ENCODING, newline="") as text:
        reader = csv.reader(text)
        next(reader, None)
        end = reader.line_num
        for record in reader:
            start, end = end + 1, reader.line_num
            if any(value.strip() for value in record):
                yield start, record


def contact_import_upload(
    *, actor: AbstractBaseUser, organization_id: int, upload: UploadedFile
) -> ContactImport:
    """Keep an uploaded CSV for its import, once it is known to be UTF-8 text with a
    header: counted and checked chunk by chunk as it is written. Refuses (ValidationError)
    a file over CONTACT_IMPORT_MAX_BYTES, not UTF-8, or without a header."""
    limit = settings.CONTACT_IMPORT_MAX_BYTES
    if upload.size > limit:
        raise ValidationError(f"The file is larger than {limit // 2**20} MB: split it.")
    folder = Path(settings.CONTACT_IMPORT_DIR)
    folder.mkdir(parents=True, exist_ok=True)
    stored_as = f"{uuid.uuid4()}.csv"
    decoder = codecs.getincrementaldecoder(ENCODING)()
    lines, last = 0, b"\n"
    try:
        with (folder / stored_as).open("wb") as out:
            for chunk in upload.chunks(CHUNK):
                decoder.decode(chunk)
                lines += chunk.count(b"\n")
                last = chunk[-1:] or last
                out.write(chunk)
            decoder.decode(b"", final=True)
        headers = _header(folder / stored_as)
    except (UnicodeDecodeError, csv.Error) as error:
        (folder / stored_as).unlink(missing_ok=True)
        raise ValidationError(
            f"This is not a CSV file in UTF-8 ({error}): save it as “CSV UTF-8” and upload it "
            "again."
        ) from error
    if not any(h.strip() for h in headers):
        (folder / stored_as).unlink(missing_ok=True)
        raise ValidationError("The file's first line should name its columns: it is empty.")
    return ContactImport.objects.create(
        organization_id=organization_id,
        created_by=actor,
        file_name=(upload.name or "contacts.csv")[:255],
        stored_as=stored_as,
        size=upload.size,
        headers=[h.strip() for h in headers],
        total_rows=max(0, lines + (last != b"\n") - 1),
    )


def contact_import_preview(*, contact_import: ContactImport, rows: int = 5) -> list[list[str]]:
    """The first `rows` records after the header, as the file has them."""
    records = _records(_path(contact_import))
    return [record for _, record in itertools.islice(records, rows)]


def guess_mapping(headers: list[str]) -> dict[str, int]:
    """The column each field probably comes from: "E-mail", "First name", "company"…"""
    names = {"".join(c for c in h.lower() if c.isalnum()): i for i, h in enumerate(headers)}
    aliases = {
        "email": ("email", "emailaddress", "mail"),
        "first_name": ("firstname", "givenname", "first"),
        "last_name": ("lastname", "surname", "familyname", "last"),
        "company": ("company", "organization", "organisation", "account"),
        "job_title": ("jobtitle", "title", "position", "role"),
        "time_zone": ("timezone", "tz"),
    }
    return {
        field: next(names[a] for a in options if a in names)
        for field, options in aliases.items()
        if any(a in names for a in options)
    }


def contact_import_start(
    *, actor: AbstractBaseUser, contact_import: ContactImport, mapping: dict[str, int]
) -> None:
    """Map the file's columns and queue its import. Refuses (WrongState) an import already
    started."""
    from sequences.tasks import import_contacts  # tasks call the services: import at use

    with transaction.atomic():
        started = ContactImport.objects.filter(pk=contact_import.pk, status=Status.UPLOADED).update(
            status=Status.QUEUED, mapping=mapping
        )
        if not started:
            raise WrongState(f"{contact_import.file_name} is imported already.")
        audit_record(
            actor=actor,
            organization_id=contact_import.organization_id,
            action=AuditEntry.Action.IMPORT_CONTACTS,
            target=contact_import,
            rows=contact_import.total_rows,
            mapping={field: contact_import.headers[i] for field, i in mapping.items()},
        )
        import_contacts.delay_on_commit(contact_import.pk)


@dataclass(frozen=True)
class Row:
    line: int
    email: str
    fields: dict[str, str]
    refusal: str = ""


MAX_LENGTHS = {name: Contact._meta.get_field(name).max_length for name in DETAIL_FIELDS}


def _read(record: list[str], line: int, mapping: dict[str, int], headers: list[str]) -> Row:
    """One record as a contact's fields, or the reason it cannot be one."""
    missing = [headers[i] for i in sorted(mapping.values()) if i >= len(record)]
    raw = record[mapping["email"]].strip() if mapping["email"] < len(record) else ""
    if missing:
        return Row(line, raw, {}, f"Missing column(s): {', '.join(missing)}.")
    values = {field: record[i].strip() for field, i in mapping.items()}
    if not raw:
        return Row(line, raw, {}, "No email address.")
    try:
        email = contact_normalize_email(raw)
        for name in DETAIL_FIELDS:
            if len(values.get(name, "")) > MAX_LENGTHS[name]:
                label = Contact._meta.get_field(name).verbose_name
                raise ValidationError(f"The {label} is longer than {MAX_LENGTHS[name]} characters.")
        if values.get("time_zone"):
            validate_time_zone(values["time_zone"])
    except ValidationError as error:
        return Row(line, raw, {}, error.messages[0])
    details = {name: values.get(name, "") for name in DETAIL_FIELDS}
    details["time_zone"] = details["time_zone"] or "UTC"
    return Row(line, email, details)


def _batches(rows: Iterable[Row]) -> Iterator[list[Row]]:
    iterator = iter(rows)
    while batch := list(itertools.islice(iterator, BATCH)):
        yield batch


def contact_import_run(*, import_id: int) -> ContactImport:
    """Import the file: every valid row a contact, every other row a refusal with its line
    and reason. Resumes after the last batch committed; a finished import is left as is."""
    contact_import = ContactImport.objects.get(pk=import_id)
    if contact_import.status not in (Status.QUEUED, Status.RUNNING):
        return contact_import
    ContactImport.objects.filter(pk=import_id).update(status=Status.RUNNING)
    mapping, headers = contact_import.mapping, contact_import.headers
    try:
        records = itertools.islice(_records(_path(contact_import)), contact_import.rows_done, None)
        rows = (_read(record, line, mapping, headers) for line, record in records)
        # The first line of each address imported by this run: what a duplicate repeats.
        seen: dict[str, int] = {}
        for batch in _batches(rows):
            _import_batch(contact_import, batch, seen)
    except (UnicodeDecodeError, csv.Error, FileNotFoundError) as error:
        ContactImport.objects.filter(pk=import_id).update(
            status=Status.FAILED,
            failure=f"The file could not be read past line {contact_import.rows_done + 1}: {error}"[
                :500
            ],
            finished_at=timezone.now(),
        )
        return ContactImport.objects.get(pk=import_id)
    ContactImport.objects.filter(pk=import_id).update(
        status=Status.DONE, finished_at=timezone.now()
    )
    _path(contact_import).unlink(missing_ok=True)
    return ContactImport.objects.get(pk=import_id)


def _import_batch(contact_import: ContactImport, batch: list[Row], seen: dict[str, int]) -> None:
    """One batch in one transaction: its contacts, its refusals and the import's counts.

    A duplicate of a line imported by this run names that line (`seen`); one of a line
    imported before the run resumed, after a crash, is refused without it."""
    keys = {row.email.lower() for row in batch if not row.refusal}
    existing = dict(
        Contact.objects.filter(organization_id=contact_import.organization_id)
        .annotate(key=Lower("email"))
        .filter(key__in=keys)
        .values_list("key", "contact_import_id")
    )
    added: dict[str, int] = {}
    contacts, refusals = [], []
    for row in batch:
        key = row.email.lower()
        refusal = row.refusal
        if not refusal and (key in added or key in seen):
            refusal = f"Duplicate: the same address as line {added.get(key) or seen[key]}."
        elif not refusal and key in existing:
            refusal = (
                "Duplicate: the same address as an earlier line."
                if existing[key] == contact_import.pk
                else "Already a contact of your organization."
            )
        if refusal:
            refusals.append(
                ContactImportRefusal(
                    contact_import=contact_import,
                    line=row.line,
                    email=row.email[:320],
                    reason=refusal[:500],
                )
            )
            continue
        added[key] = row.line
        contacts.append(
            Contact(
                organization_id=contact_import.organization_id,
                email=row.email,
                added_by_id=contact_import.created_by_id,
                contact_import=contact_import,
                **row.fields,
            )
        )
    with transaction.atomic():
        Contact.objects.bulk_create(contacts)
        ContactImportRefusal.objects.bulk_create(refusals)
        ContactImport.objects.filter(pk=contact_import.pk).update(
            rows_done=contact_import.rows_done + len(batch),
            imported_count=contact_import.imported_count + len(contacts),
            refused_count=contact_import.refused_count + len(refusals),
        )
    contact_import.rows_done += len(batch)
    contact_import.imported_count += len(contacts)
    contact_import.refused_count += len(refusals)
    seen.update(added)
