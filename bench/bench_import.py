"""Benchmark contact imports and enrollment: a 100 000-row CSV, then 10 000 contacts into
a three-step sequence.

    .venv/bin/python bench/bench_import.py [--rows 100000] [--enroll 10000]

Needs PostgreSQL on loopback. Uses its own database (`sequences_bench_import`, dropped and
created). The import runs in this process as the worker runs it (the service the Celery
task calls): once for its speed, once more under tracemalloc for its peak memory (Python
allocations while it runs: the file is streamed, so it stays flat whatever the rows). A
row in a hundred is refused (an invalid address, or a duplicate). Then enrollment of
`--enroll` imported contacts: seconds and SQL queries. Prints numbers; asserts nothing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH_DB = "sequences_bench_import"
os.environ["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{BENCH_DB}"
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DEBUG", "true")  # the development setup, as manage.py runs it
os.environ.setdefault("LOG_LEVEL", "WARNING")
os.environ["CONTACT_IMPORT_DIR"] = tempfile.mkdtemp(prefix="bench-imports-")
os.environ["CONTACT_IMPORT_MAX_BYTES"] = str(2**30)
# The import runs in this process: the task queued by contact_import_start goes nowhere.
os.environ["CELERY_BROKER_URL"] = "memory://"
sys.path.insert(0, str(ROOT))

import django  # noqa: E402
import psycopg  # noqa: E402

with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as pg:
    pg.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}"')
    pg.execute(f'CREATE DATABASE "{BENCH_DB}"')
django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.files import File  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from sequences.models import (  # noqa: E402
    Contact,
    Mailbox,
    Membership,
    Organization,
    Sequence,
    Step,
)
from sequences.services.enrollment import enrollments_create  # noqa: E402
from sequences.services.imports import (  # noqa: E402
    contact_import_run,
    contact_import_start,
    contact_import_upload,
)


def write_csv(path: Path, rows: int, tag: str) -> None:
    with path.open("w") as out:
        out.write("Email,First name,Last name,Company,Job title\n")
        for n in range(rows):
            if n % 200 == 7:
                out.write(f"broken-{n}-at-{tag}.test,Bad,Row,Co,\n")
            elif n % 200 == 107:
                out.write(f"c{n - 1}@{tag}.test,Dup,Row,Co,\n")
            else:
                out.write(f"c{n}@{tag}.test,First{n},Last{n},Company {n % 97},Buyer\n")


def run_import(owner: object, path: Path) -> tuple[float, object]:
    with path.open("rb") as raw:
        contact_import = contact_import_upload(
            actor=owner, organization_id=owner.membership.organization_id, upload=File(raw)
        )
    mapping = {"email": 0, "first_name": 1, "last_name": 2, "company": 3, "job_title": 4}
    contact_import_start(actor=owner, contact_import=contact_import, mapping=mapping)
    started = time.perf_counter()
    done = contact_import_run(import_id=contact_import.pk)
    return time.perf_counter() - started, done


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--enroll", type=int, default=10_000)
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    organization = Organization.objects.create(name="Bench", slug="bench")
    owner = get_user_model().objects.create_user("bench")
    Membership.objects.create(user=owner, organization=organization, role="admin")
    folder = Path(tempfile.mkdtemp(prefix="bench-csv-"))

    first = folder / "first.csv"
    write_csv(first, args.rows, "first")
    seconds, done = run_import(owner, first)
    print(
        f"import of {args.rows:,} rows ({first.stat().st_size / 2**20:.1f} MB): "
        f"{seconds:.1f} s, {args.rows / seconds:,.0f} rows/s; "
        f"{done.imported_count:,} imported, {done.refused_count:,} refused"
    )

    second = folder / "second.csv"
    write_csv(second, args.rows, "second")
    tracemalloc.start()
    _, done = run_import(owner, second)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"import peak memory (tracemalloc, Python allocations): {peak / 2**20:.1f} MB; "
        f"process peak RSS {rss:.0f} MB"
    )

    mailbox = Mailbox(
        organization=organization,
        owner=owner,
        email="bench@bench.test",
        smtp_host="127.0.0.1",
        per_minute_limit=30,
        daily_limit=2_000,
        window_start=dt.time(8),
        window_end=dt.time(18),
    )
    mailbox.password = "bench"
    mailbox.save()
    sequence = Sequence.objects.create(
        organization=organization, owner=owner, mailbox=mailbox, name="Bench"
    )
    Step.objects.bulk_create(
        Step(sequence=sequence, position=p, wait_days=3, subject="Hi {{ first_name }}", body="x")
        for p in (1, 2, 3)
    )
    ids = list(
        Contact.objects.filter(contact_import=done).order_by("pk").values_list("pk", flat=True)
    )[: args.enroll]
    with CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        result = enrollments_create(
            actor=owner, sequence=sequence, contacts=Contact.objects.filter(pk__in=ids)
        )
        seconds = time.perf_counter() - started
    print(
        f"enrollment of {result.enrolled:,} contacts (3 steps, {result.enrolled * 3:,} emails, "
        f"30/min, 2 000/day): {seconds:.2f} s, {len(queries)} queries; first emails "
        f"{result.first_send:%b %d %H:%M} to {result.last_send:%b %d %H:%M} UTC"
    )


if __name__ == "__main__":
    main()
