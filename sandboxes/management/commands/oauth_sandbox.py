from __future__ import annotations

import threading

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from sandboxes import oauth_server
from sandboxes.background import log_to
from sandboxes.oauth_server import DEFAULT_ACCESS_SECONDS, OAuthSandbox


class Command(BaseCommand):
    help = (
        "Run the local OAuth 2.0 sandbox until Ctrl-C: an authorization server playing "
        "Google's and Microsoft's, with a consent page (see sandboxes/oauth_server.py)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument(
            "--port", type=int, default=settings.OAUTH_SANDBOX_PORT, help="0 picks a free port."
        )
        parser.add_argument(
            "--access-seconds",
            type=int,
            default=DEFAULT_ACCESS_SECONDS,
            help="How long an access token lasts (short ones show refreshes).",
        )

    def handle(
        self, *args: object, host: str, port: int, access_seconds: int, **options: object
    ) -> None:
        log_to(self.stdout, oauth_server.__name__)
        sandbox = OAuthSandbox(host=host, port=port, access_seconds=access_seconds)
        sandbox.start()
        try:
            self.stdout.write(f"OAuth sandbox listening on {sandbox.url} (Ctrl-C to stop)")
            self.stdout.flush()
            threading.Event().wait()
        except KeyboardInterrupt:
            self.stdout.write("OAuth sandbox stopped.")
        finally:
            sandbox.stop()
