"""What the logs and the debug page may show."""

from __future__ import annotations

import logging
import re

from django.views.debug import SafeExceptionReporterFilter


class ClientErrorsWithoutTraceback(logging.Filter):
    """A 4xx (a 403, a 404) is the client's doing: one line, without the traceback that
    django.request attaches to it. 5xx keep theirs."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "status_code", 500) < 500:
            record.exc_info, record.exc_text = None, None
        return True


class SecretsHiddenFilter(SafeExceptionReporterFilter):
    """The debug page and error reports hide URLs with credentials in them as well
    (DATABASE_URL, CELERY_BROKER_URL: a password after the scheme), and the cookies."""

    hidden_settings = re.compile(
        "API|AUTH|TOKEN|KEY|SECRET|PASS|SIGNATURE|HTTP_COOKIE|URL|DATABASE", flags=re.I
    )
