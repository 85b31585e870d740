"""One settings module, driven by the environment.

Without any environment variable the project runs on its embedded pieces (SQLite, a
filesystem Celery broker, the local SMTP sandbox) so that `make run` works on a fresh
machine. Production sets DEBUG=false and must then provide its secrets: a missing one
is an error at start-up, never a silent default.
"""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("DATA_DIR", BASE_DIR / ".data"))


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def env_required(name: str, dev_default: str) -> str:
    """The variable's value; in production a missing one stops the start."""
    value = os.environ.get(name, "")
    if value:
        return value
    if DEBUG:
        return dev_default
    raise ImproperlyConfigured(f"{name} must be set when DEBUG is off.")


# Off unless asked for: manage.py, `make run` and the tests turn it on (the Makefile,
# pyproject.toml); the web application and the workers never do by themselves.
DEBUG = env_bool("DEBUG", default=False)
SECRET_KEY = env_required("SECRET_KEY", "dev-only-insecure-key-do-not-use-in-production-0123456789")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

# Mailbox passwords are encrypted with Fernet. Several comma-separated keys allow a
# rotation (the first encrypts, all decrypt). Development derives one from SECRET_KEY.
_dev_mailbox_key = base64.urlsafe_b64encode(hashlib.sha256(SECRET_KEY.encode()).digest()).decode()
MAILBOX_SECRET_KEYS = env_list("MAILBOX_SECRET_KEYS", _dev_mailbox_key if DEBUG else "")
if not MAILBOX_SECRET_KEYS:
    raise ImproperlyConfigured("MAILBOX_SECRET_KEYS must be set when DEBUG is off.")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "diagnostics",
    "sequences",
    "deliverability",
]
if DEBUG:
    # The local SMTP and DNS servers of `make run` and the tests; production has real ones.
    INSTALLED_APPS.append("sandboxes")

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "sequences.middleware.RefuseNulMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "sequences.middleware.PrivatePagesMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "sequences.middleware.ViewerTimeZoneMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.csp",
                "sequences.context_processors.membership",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{DATA_DIR / 'db.sqlite3'}"),
        conn_max_age=int(os.environ.get("CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Sign-in attempts allowed per account and client address, and for how long they count
# (sequences.auth: counted in the database, in every setup).
LOGIN_FAILURE_LIMIT = int(os.environ.get("LOGIN_FAILURE_LIMIT", "5"))
LOGIN_FAILURE_WINDOW = int(os.environ.get("LOGIN_FAILURE_WINDOW", "900"))
# Reverse proxies in front of the web processes that append the address they saw to
# X-Forwarded-For: the client's address is then the one the outermost of them saw. 0: none,
# REMOTE_ADDR is the client (a header a client sends is never trusted then).
TRUSTED_PROXY_COUNT = int(os.environ.get("TRUSTED_PROXY_COUNT", "0"))
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "sequences:list"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# Security headers. The pages load scripts only from static/ (htmx is vendored), so
# the policy needs no inline script and no outside host.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "frame-ancestors": [CSP.NONE],
    "form-action": [CSP.SELF],
}
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = not DEBUG
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "0" if DEBUG else "31536000"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_PRELOAD = not DEBUG
if env_bool("BEHIND_TLS_PROXY", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Sending. A claim older than this is recovered: longer than a batch may run (the send
# task's time limit), so a live worker is never second-guessed.
SEND_BATCH_TIME_LIMIT = int(os.environ.get("SEND_BATCH_TIME_LIMIT", "300"))
# Seconds a send batch may take: the product's own limit, whatever the worker pool enforces,
# before the task's time limits strike. No reply is waited for past it, no email starts
# with less than SMTP_TIMEOUT left, and what was not started goes back on the schedule.
SEND_BATCH_DEADLINE = float(
    os.environ.get("SEND_BATCH_DEADLINE", str(max(1, SEND_BATCH_TIME_LIMIT - 60)))
)
# Seconds one SMTP read or connection may wait at most (less near the batch's deadline). A
# silence after the final dot of DATA makes that email "delivery uncertain", never retried
# by itself.
SMTP_TIMEOUT = float(os.environ.get("SMTP_TIMEOUT", "30"))
# Consecutive failures to connect, greet, start TLS or sign in after which a mailbox shows
# a sync error and holds its emails; it is tried again every MAILBOX_RECHECK_SECONDS.
MAILBOX_CONNECTION_FAILURES = int(os.environ.get("MAILBOX_CONNECTION_FAILURES", "3"))
MAILBOX_RECHECK_SECONDS = int(os.environ.get("MAILBOX_RECHECK_SECONDS", "300"))
SENDING_CLAIM_TIMEOUT = int(os.environ.get("SENDING_CLAIM_TIMEOUT", "600"))
# A running batch renews its mailbox's lease before every wait for a reply, so a lease
# passed means its worker is gone (crashed, or cut off from the database): its claim is
# recovered then, not after SENDING_CLAIM_TIMEOUT.
SENDING_LEASE_SECONDS = float(os.environ.get("SENDING_LEASE_SECONDS", str(SMTP_TIMEOUT + 30)))
# A send task not started this long after its claim expires unrun (lost with a broker that
# restarted empty, or behind a long queue), and its claim is given back.
SEND_TASK_EXPIRES = int(os.environ.get("SEND_TASK_EXPIRES", "60"))
# How long a batch keeps trying to record a message the server accepted while the database
# is unreachable, before leaving it to the recovery as uncertain.
SEND_RECORD_RETRY_SECONDS = float(os.environ.get("SEND_RECORD_RETRY_SECONDS", "120"))
DISPATCH_INTERVAL_SECONDS = float(os.environ.get("DISPATCH_INTERVAL_SECONDS", "5"))
# Each mailbox's domain is checked again once its last check is this old (a day); beat
# looks for such mailboxes every DOMAIN_CHECK_SCAN_SECONDS.
DOMAIN_CHECK_EVERY_SECONDS = int(os.environ.get("DOMAIN_CHECK_EVERY_SECONDS", "86400"))
DOMAIN_CHECK_SCAN_SECONDS = float(os.environ.get("DOMAIN_CHECK_SCAN_SECONDS", "60"))
# Checks one scan starts at most (the oldest first): 100 a minute is 144 000 a day.
DOMAIN_CHECK_BATCH_SIZE = int(os.environ.get("DOMAIN_CHECK_BATCH_SIZE", "100"))
# Emails one send task takes for one mailbox, over one SMTP connection.
SEND_BATCH_SIZE = int(os.environ.get("SEND_BATCH_SIZE", "100"))
# The bounce-rate guard: pause a sequence's first steps past this share of hard bounces
# over 24 hours, once it has sent at least this many.
BOUNCE_GUARD_RATE = float(os.environ.get("BOUNCE_GUARD_RATE", "0.08"))
BOUNCE_GUARD_MIN_SENDS = int(os.environ.get("BOUNCE_GUARD_MIN_SENDS", "50"))
# The complaint-rate guard beside it: feedback reports over the emails sent in 24 hours
# (Gmail's sender rules: keep spam complaints under 0.3 %).
COMPLAINT_GUARD_RATE = float(os.environ.get("COMPLAINT_GUARD_RATE", "0.003"))

# Reading each mailbox over IMAP (sequences.services.inbox): every this many seconds, what
# arrived since the last read, from the mailbox's first send on.
INBOX_READ_INTERVAL_SECONDS = float(os.environ.get("INBOX_READ_INTERVAL_SECONDS", "60"))
# Seconds one IMAP read or connection may wait at most.
IMAP_TIMEOUT = float(os.environ.get("IMAP_TIMEOUT", "30"))
# How long a reader holds its mailbox (renewed while it reads): one reader per mailbox.
INBOX_LEASE_SECONDS = float(os.environ.get("INBOX_LEASE_SECONDS", "300"))
# Messages fetched per IMAP command.
INBOX_FETCH_BATCH = int(os.environ.get("INBOX_FETCH_BATCH", "200"))
# A bounce or reply that names no Message-ID of ours is matched to the mailbox's last email
# to that address sent within this many days.
INBOX_MATCH_DAYS = int(os.environ.get("INBOX_MATCH_DAYS", "30"))
# An out-of-office reply moves the contact's next step to the day after its return date, at
# most this many days out.
OUT_OF_OFFICE_MAX_DAYS = int(os.environ.get("OUT_OF_OFFICE_MAX_DAYS", "30"))

# Celery. The default broker is a folder on disk so that a newcomer needs no server;
# production points CELERY_BROKER_URL at Redis.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = DATA_DIR / "broker"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
    for _folder in ("queue", "processed", "control"):
        (_broker_dir / _folder).mkdir(parents=True, exist_ok=True)
elif CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    # Tasks are acknowledged late: Redis hands one not acknowledged within this time to
    # another worker. Longer than a send task may run (or a live batch would be started
    # twice), short enough that the batch of a worker that died is taken up again soon.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 2 * SEND_BATCH_TIME_LIMIT}
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# A batch in progress goes on when the broker connection drops (Celery 6 would cancel it,
# leaving its email in conversation uncertain); the claim and the lease keep it single.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {
    "dispatch-due-emails": {
        "task": "sequences.tasks.dispatch_due_emails",
        "schedule": DISPATCH_INTERVAL_SECONDS,
        # A dispatch that waited longer than its interval is superseded by the next one.
        "options": {"expires": DISPATCH_INTERVAL_SECONDS},
    },
    "recheck-mailboxes": {
        "task": "sequences.tasks.recheck_mailboxes",
        "schedule": 60,
        "options": {"expires": 60},
    },
    "purge-sign-in-counters": {
        "task": "sequences.tasks.purge_sign_in_counters",
        "schedule": 3600,
        "options": {"expires": 3600},
    },
    "read-inboxes": {
        "task": "sequences.tasks.read_inboxes",
        "schedule": INBOX_READ_INTERVAL_SECONDS,
        "options": {"expires": INBOX_READ_INTERVAL_SECONDS},
    },
    "check-mailbox-domains": {
        "task": "deliverability.tasks.check_stale_domains",
        "schedule": DOMAIN_CHECK_SCAN_SECONDS,
        "options": {"expires": DOMAIN_CHECK_SCAN_SECONDS},
    },
}

# Contact addresses at the reserved .test domain are accepted for the demo and tests only.
CONTACT_ALLOW_TEST_DOMAINS = env_bool("CONTACT_ALLOW_TEST_DOMAINS", default=DEBUG)
# Contact imports: where an uploaded CSV waits for its worker (the web and the workers must
# share it), and the largest file accepted.
CONTACT_IMPORT_DIR = Path(os.environ.get("CONTACT_IMPORT_DIR", DATA_DIR / "imports"))
CONTACT_IMPORT_MAX_BYTES = int(os.environ.get("CONTACT_IMPORT_MAX_BYTES", str(50 * 2**20)))

# Where the product's public pages are reached from the internet: every email's one-click
# unsubscribe link (RFC 8058, which asks for https) starts with it.
PUBLIC_BASE_URL = env_required("PUBLIC_BASE_URL", "http://127.0.0.1:8000").rstrip("/")

# The local SMTP sandbox the demo mailboxes send through (see `manage.py smtp_sandbox`).
SMTP_SANDBOX_HOST = os.environ.get("SMTP_SANDBOX_HOST", "127.0.0.1")
SMTP_SANDBOX_PORT = int(os.environ.get("SMTP_SANDBOX_PORT", "2525"))
# The IMAP sandbox that serves the demo mailboxes their later answers (`manage.py
# imap_sandbox`), read by the inbox reader like any mailbox's server.
IMAP_SANDBOX_PORT = int(os.environ.get("IMAP_SANDBOX_PORT", "1143"))

# OAuth 2.0 sign-in of Google and Microsoft mailboxes (authorization code with PKCE, then
# SMTP AUTH XOAUTH2). Production: the providers' endpoints, with the client id and secret of
# the product's app registered with each (no client id: that provider's sign-in is not
# offered). Development and tests: the local OAuth sandbox (`manage.py oauth_sandbox`), whose
# tokens the SMTP sandbox accepts, so its mailboxes send through the SMTP sandbox too.
OAUTH_SANDBOX_PORT = int(os.environ.get("OAUTH_SANDBOX_PORT", "8025"))
_oauth_sandbox = f"http://127.0.0.1:{OAUTH_SANDBOX_PORT}"
OAUTH_PROVIDERS = {
    "gmail": {
        "authorize_url": os.environ.get(
            "OAUTH_GOOGLE_AUTHORIZE_URL",
            f"{_oauth_sandbox}/google/o/oauth2/v2/auth"
            if DEBUG
            else "https://accounts.google.com/o/oauth2/v2/auth",
        ),
        "token_url": os.environ.get(
            "OAUTH_GOOGLE_TOKEN_URL",
            f"{_oauth_sandbox}/google/token" if DEBUG else "https://oauth2.googleapis.com/token",
        ),
        "client_id": os.environ.get(
            "OAUTH_GOOGLE_CLIENT_ID", "google-sandbox-client" if DEBUG else ""
        ),
        "client_secret": os.environ.get(
            "OAUTH_GOOGLE_CLIENT_SECRET", "google-sandbox-secret" if DEBUG else ""
        ),
        "scope": "https://mail.google.com/",
        # Google gives a refresh token only when asked for offline access.
        "authorize_params": {"access_type": "offline", "prompt": "consent"},
    },
    "microsoft": {
        "authorize_url": os.environ.get(
            "OAUTH_MICROSOFT_AUTHORIZE_URL",
            f"{_oauth_sandbox}/microsoft/common/oauth2/v2.0/authorize"
            if DEBUG
            else "https://login.microsoftonline.com/common/oauth2/v2.0/authorize",
        ),
        "token_url": os.environ.get(
            "OAUTH_MICROSOFT_TOKEN_URL",
            f"{_oauth_sandbox}/microsoft/common/oauth2/v2.0/token"
            if DEBUG
            else "https://login.microsoftonline.com/common/oauth2/v2.0/token",
        ),
        "client_id": os.environ.get(
            "OAUTH_MICROSOFT_CLIENT_ID", "microsoft-sandbox-client" if DEBUG else ""
        ),
        "client_secret": os.environ.get(
            "OAUTH_MICROSOFT_CLIENT_SECRET", "microsoft-sandbox-secret" if DEBUG else ""
        ),
        "scope": "https://outlook.office.com/SMTP.Send "
        "https://outlook.office.com/IMAP.AccessAsUser.All offline_access",
        "authorize_params": {"prompt": "select_account"},
    },
}
# Where OAuth mailboxes send from (host, port, encryption): the providers' submission
# servers, or the SMTP sandbox (on loopback, without TLS) in development.
OAUTH_SMTP_SERVERS = (
    dict.fromkeys(("gmail", "microsoft"), (SMTP_SANDBOX_HOST, SMTP_SANDBOX_PORT, "none"))
    if DEBUG
    else {
        "gmail": ("smtp.gmail.com", 587, "starttls"),
        "microsoft": ("smtp.office365.com", 587, "starttls"),
    }
)
# The sign-in forms post to the product, which redirects to the provider's consent page:
# browsers hold that redirect to the page's form-action too.
SECURE_CSP["form-action"] += sorted(
    {
        "{0.scheme}://{0.netloc}".format(urlsplit(conf["authorize_url"]))
        for conf in OAUTH_PROVIDERS.values()
    }
)
# An access token this close to its expiry is refreshed before signing in with it.
OAUTH_REFRESH_MARGIN = int(os.environ.get("OAUTH_REFRESH_MARGIN", "300"))
# Seconds a token endpoint may take to answer.
OAUTH_TIMEOUT = float(os.environ.get("OAUTH_TIMEOUT", "15"))

# Deliverability checks of each mailbox's domain (MX, SPF, DKIM, DMARC, blocklists).
# Resolvers as "host" or "host:port"; none: the system's (/etc/resolv.conf). In development,
# the local DNS sandbox (`manage.py dns_sandbox`), which serves the demo's domains.
DNS_SANDBOX_PORT = int(os.environ.get("DNS_SANDBOX_PORT", "5300"))
DNS_NAMESERVERS = env_list("DNS_NAMESERVERS", f"127.0.0.1:{DNS_SANDBOX_PORT}" if DEBUG else "")
# Seconds one lookup may take, retries included, before it is reported as a timeout.
DNS_TIMEOUT = float(os.environ.get("DNS_TIMEOUT", "3"))
# Blocklists queried by IP address (the mailbox's SMTP server) and by domain.
DNSBL_IP_ZONES = env_list(
    "DNSBL_IP_ZONES", "zen.spamhaus.org,bl.spamcop.net,b.barracudacentral.org"
)
DNSBL_DOMAIN_ZONES = env_list("DNSBL_DOMAIN_ZONES", "dbl.spamhaus.org")

DEFAULT_EXCEPTION_REPORTER_FILTER = "config.logs.SecretsHiddenFilter"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "filters": {"client_errors": {"()": "config.logs.ClientErrorsWithoutTraceback"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        # Django's own console handler goes (its records reach the root's, once).
        "django": {"handlers": []},
        "django.request": {"filters": ["client_errors"]},
        "django.db.backends": {"level": "WARNING"},
        # aiosmtpd (the SMTP sandbox) logs every connection, and a deprecation of its own.
        "mail.log": {"level": "ERROR"},
    },
}
