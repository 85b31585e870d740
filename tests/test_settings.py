"""Settings come from the environment: checked in fresh processes, as a deployment sees them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from tests.support import subprocess_env

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": "x" * 20 + "production-secret-key-with-enough-entropy-0123456789",
    "MAILBOX_SECRET_KEYS": Fernet.generate_key().decode(),
    "ALLOWED_HOSTS": "status.example.com",
    "DATABASE_URL": "postgres://app:pw@db.internal:5432/status",
    "CELERY_BROKER_URL": "redis://redis.internal:6379/0",
    "PUBLIC_BASE_URL": "https://status.example.com",
}


def _run(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in subprocess_env().items() if k not in PRODUCTION}
    return subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        cwd=ROOT,
        env={**clean, "DJANGO_SETTINGS_MODULE": "config.settings", **env},
        capture_output=True,
        text=True,
        check=False,
    )


def _setting(name: str, **env: str) -> str:
    result = _run(f"from django.conf import settings; print(settings.{name})", **env)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_it_runs_on_sqlite_and_the_filesystem_broker_in_development():
    assert "sqlite3" in _setting("DATABASES['default']['ENGINE']", DEBUG="true")
    assert _setting("CELERY_BROKER_URL", DEBUG="true") == "filesystem://"


def test_debug_is_off_unless_asked_for():
    result = _run("pass")

    assert "SECRET_KEY must be set when DEBUG is off" in result.stderr
    assert _setting("DEBUG", **{**PRODUCTION, "DEBUG": ""}) == "False"


def test_manage_py_runs_the_development_setup_in_a_bare_environment():
    bare = {k: v for k, v in subprocess_env().items() if k not in PRODUCTION}
    result = subprocess.run(
        [sys.executable, "manage.py", "diagnose", "--json", "550 5.1.1 User unknown"],
        cwd=ROOT,
        env=bare,
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert '"category": "recipient_unknown"' in result.stdout


def test_it_reads_production_settings_from_the_environment():
    assert _setting("DATABASES['default']['HOST']", **PRODUCTION) == "db.internal"
    assert _setting("CELERY_BROKER_URL", **PRODUCTION) == "redis://redis.internal:6379/0"
    assert _setting("ALLOWED_HOSTS", **PRODUCTION) == "['status.example.com']"
    assert _setting("SESSION_COOKIE_SECURE", **PRODUCTION) == "True"


def test_it_redelivers_a_task_of_a_dead_worker_only_after_a_live_one_would_have_ended():
    options = _setting("CELERY_BROKER_TRANSPORT_OPTIONS", **PRODUCTION)
    limit = int(_setting("SEND_BATCH_TIME_LIMIT", **PRODUCTION))

    assert options == f"{{'visibility_timeout': {2 * limit}}}"


@pytest.mark.parametrize("missing", ["SECRET_KEY", "MAILBOX_SECRET_KEYS", "PUBLIC_BASE_URL"])
def test_it_refuses_to_start_in_production_without_a_secret(missing):
    env = {k: v for k, v in PRODUCTION.items() if k != missing}

    result = _run("pass", **env)

    assert result.returncode != 0
    assert f"{missing} must be set when DEBUG is off" in result.stderr


def test_it_passes_the_deployment_checks_in_production_mode():
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=subprocess_env(**PRODUCTION),
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr


def test_it_installs_the_sandboxes_only_for_development():
    assert "'sandboxes'" in _setting("INSTALLED_APPS", DEBUG="true")
    assert "'sandboxes'" not in _setting("INSTALLED_APPS", **PRODUCTION)


def test_every_beat_entry_runs_a_task_the_workers_know():
    from django.conf import settings

    from config.celery import app

    app.loader.import_default_modules()
    for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
        assert entry["task"] in app.tasks, f"beat entry {name!r} names no task"
