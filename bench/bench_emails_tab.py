"""Benchmark the Emails tab: one sequence of 100 000 emails among 1 000 000.

    .venv/bin/python bench/bench_emails_tab.py [--requests 200]

Needs PostgreSQL on loopback. Uses its own database (`sequences_bench_tab`, dropped and
created), filled by SQL bulk inserts; measures the server time of the first page (the
default view), each other view, a deep page of all emails (around page 2 000) and a
status-filtered page with Django's test client. Prints
numbers; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH_DB = "sequences_bench_tab"
os.environ["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{BENCH_DB}"
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DEBUG", "true")  # the development setup, as manage.py runs it
os.environ.setdefault("LOG_LEVEL", "WARNING")
sys.path.insert(0, str(ROOT))

import django  # noqa: E402
import psycopg  # noqa: E402

with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as pg:
    pg.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}"')
    pg.execute(f'CREATE DATABASE "{BENCH_DB}"')
django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402
from django.urls import reverse  # noqa: E402

STEPS = 10
SEQUENCES = 10
ENROLLMENTS = 100_000  # x STEPS emails; the first sequence gets a tenth of them

# Statuses by step: history is sent, the last steps are ahead, some failed on the way.
FILL = f"""
INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, email,
                       is_staff, is_active, date_joined)
VALUES ('!', false, 'bench', 'Bench', 'Admin', 'bench@bench.test', false, true, now());
INSERT INTO sequences_organization (name, slug, reps_may_edit_contacts, created_at)
VALUES ('Bench', 'bench', false, now());
INSERT INTO sequences_membership (user_id, organization_id, role) VALUES (1, 1, 'admin');
INSERT INTO sequences_mailbox (organization_id, owner_id, email, display_name, provider,
    smtp_host, smtp_port, smtp_security, smtp_username, smtp_secret, state, last_error,
    last_error_code, daily_limit, per_minute_limit, time_zone, sending_days, window_start,
    window_end, dkim_selectors, connection_failures, created_at)
VALUES (1, 1, 'bench@bench.test', 'Bench', 'smtp', '127.0.0.1', 2525, 'none',
        'bench@bench.test', 'x', 'connected', '', '', 2000, 60, 'UTC', '12345',
        '08:00', '18:00', '', 0, now());
INSERT INTO sequences_sequence (organization_id, owner_id, mailbox_id, name, state,
    paused_reason, first_steps_paused_reason, created_at)
SELECT 1, 1, 1, 'Sequence ' || s, 'active', '', '', now() FROM generate_series(1, {SEQUENCES}) s;
INSERT INTO sequences_step (sequence_id, position, wait_days, subject, body)
SELECT q, p, 2, 'Step ' || p || ' for {{{{ first_name }}}}', 'Hello'
FROM generate_series(1, {SEQUENCES}) q, generate_series(1, {STEPS}) p;
INSERT INTO sequences_contact (organization_id, email, first_name, last_name, company,
    job_title, time_zone, state, state_reason, created_at)
SELECT 1, 'c' || n || '@example.test', 'First' || n, 'Last' || n, 'Co', '', 'UTC',
       'active', '', now()
FROM generate_series(1, {ENROLLMENTS}) n;
INSERT INTO sequences_enrollment (sequence_id, contact_id, state, stop_cause, stopped_reason,
                                  enrolled_at)
SELECT CASE WHEN n <= {ENROLLMENTS // 10} THEN 1 ELSE 2 + n % {SEQUENCES - 1} END, n,
       'active', '', '', now() - (n % 60) * interval '1 day'
FROM generate_series(1, {ENROLLMENTS}) n;
INSERT INTO sequences_scheduledemail (enrollment_id, step_id, sequence_id, contact_id,
    mailbox_id, status, status_reason, scheduled_for, next_attempt_at, attempt_count,
    last_error, error_code, error_category, sent_at, message_id, subject, updated_at)
SELECT e.id, st.id, e.sequence_id, e.contact_id, 1, x.status,
       CASE WHEN x.status = 'blocked' THEN 'Blocked' ELSE '' END,
       x.at,
       CASE WHEN x.status = 'scheduled' THEN x.at END,
       CASE WHEN x.status = 'scheduled' THEN 0 ELSE 1 END,
       CASE WHEN x.status = 'blocked' THEN '554 5.7.1 Message blocked' ELSE '' END,
       CASE WHEN x.status = 'blocked' THEN 'smtp.5.7.1' ELSE '' END,
       CASE WHEN x.status = 'blocked' THEN 'content_rejected' ELSE '' END,
       CASE WHEN x.status = 'sent' THEN x.at END,
       CASE WHEN x.status = 'sent' THEN '<' || e.id || '.' || st.position || '@bench.test>'
            ELSE '' END,
       '',
       now()
FROM sequences_enrollment e
JOIN sequences_step st ON st.sequence_id = e.sequence_id
CROSS JOIN LATERAL (
    SELECT e.enrolled_at + (st.position * 2) * interval '1 day' AS at,
           CASE WHEN (e.id + st.position) % 50 = 0 THEN 'blocked'
                WHEN e.enrolled_at + (st.position * 2) * interval '1 day' < now() THEN 'sent'
                ELSE 'scheduled' END AS status
) x;
"""


def timed(client: Client, url: str, params: dict[str, str], runs: int) -> tuple[float, float]:
    samples = []
    for _ in range(runs):
        began = time.perf_counter()
        response = client.get(url, params)
        samples.append(time.perf_counter() - began)
        assert response.status_code == 200
    return 1000 * statistics.median(samples), 1000 * statistics.quantiles(samples, n=20)[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    runs = parser.parse_args().requests
    call_command("migrate", verbosity=0)
    began = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(FILL)
        # What autovacuum does to a live table: without it, index-only scans read the heap.
        cursor.execute("VACUUM ANALYZE")
        cursor.execute("SELECT count(*) FROM sequences_scheduledemail")
        (total,) = cursor.fetchone()
        cursor.execute("SELECT count(*) FROM sequences_scheduledemail WHERE sequence_id = 1")
        (ours,) = cursor.fetchone()
        # The row that ends page 1 999 of 50: the cursor a user reaches by paging.
        cursor.execute(
            "SELECT scheduled_for, id FROM sequences_scheduledemail WHERE sequence_id = 1 "
            "ORDER BY scheduled_for DESC, id DESC OFFSET 99949 LIMIT 1"
        )
        moment, pk = cursor.fetchone()
    print(
        f"filled {total} emails ({ours} in the measured sequence) in "
        f"{time.perf_counter() - began:.0f} s"
    )

    setup_test_environment()
    client = Client()
    from django.contrib.auth import get_user_model

    client.force_login(get_user_model().objects.get(username="bench"))
    url = reverse("sequences:emails", args=[1])
    htmx = {"HTTP_HX_REQUEST": "true"}
    cases = {
        "first page": {},  # the default view: Needs attention, as some emails are blocked
        "up next": {"view": "upcoming"},
        "sent": {"view": "sent"},
        "all emails": {"view": "all"},
        "deep page (~2000)": {"view": "all", "after": f"{moment.isoformat()}~{pk}"},
        "status filter (blocked)": {"status": "blocked"},
    }
    results = {}
    for name, params in cases.items():
        client.get(url, params)  # warm the caches once
        results[name] = timed(client, url, params, runs)
        print(f"{name:26} median {results[name][0]:6.1f} ms   p95 {results[name][1]:6.1f} ms")
    first, deep = results["first page"][1], results["deep page (~2000)"][1]
    print(f"deep/first p95: {deep / first:.2f}x")
    client.defaults.update(htmx)
    median, p95 = timed(client, url, {}, runs)
    print(f"{'first page (htmx table)':26} median {median:6.1f} ms   p95 {p95:6.1f} ms")


if __name__ == "__main__":
    main()
