from __future__ import annotations

import logging
import threading
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from sandboxes import smtp_server
from sandboxes.background import log_to
from sandboxes.smtp_server import (
    DEFAULT_ANSWER_DELAY_SECONDS,
    DEFAULT_MAX_SIZE,
    DEFAULT_RATE,
    SmtpSandbox,
)


class Command(BaseCommand):
    help = (
        "Run the local SMTP sandbox until Ctrl-C: it answers like real mail providers "
        "(see sandboxes/smtp_server.py for its rules) and stores accepted mail in a Maildir."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=2525, help="0 picks a free port.")
        parser.add_argument("--store", type=Path, default=settings.DATA_DIR / "sandbox-mail")
        parser.add_argument("--max-size", type=int, default=DEFAULT_MAX_SIZE, help="In bytes.")
        parser.add_argument(
            "--rate", type=int, default=DEFAULT_RATE, help="Messages per minute per login."
        )
        parser.add_argument(
            "--inboxes",
            type=Path,
            default=settings.DATA_DIR / "sandbox-inboxes",
            help="The senders' own Maildirs (<inboxes>/<login>/), where later answers land.",
        )
        parser.add_argument(
            "--answer-delay",
            type=float,
            default=DEFAULT_ANSWER_DELAY_SECONDS,
            help="Seconds before a domain that answers later does (bounce-later.test, ...).",
        )
        parser.add_argument(
            "--smtputf8",
            action="store_true",
            help="Offer SMTPUTF8 (RFC 6531): accept addresses with non-ASCII local parts.",
        )
        parser.add_argument(
            "--oauth-url",
            default=f"http://127.0.0.1:{settings.OAUTH_SANDBOX_PORT}",
            help="The OAuth sandbox whose tokens AUTH XOAUTH2 accepts.",
        )

    def handle(
        self,
        *args: object,
        host: str,
        port: int,
        store: Path,
        max_size: int,
        rate: int,
        smtputf8: bool,
        inboxes: Path,
        answer_delay: float,
        oauth_url: str,
        **options: object,
    ) -> None:
        self._log_to_stdout()
        sandbox = SmtpSandbox(
            host=host,
            port=port,
            store=store,
            max_size=max_size,
            rate=rate,
            smtputf8=smtputf8,
            inboxes=inboxes,
            answer_delay_seconds=answer_delay,
            oauth_url=oauth_url,
        )
        sandbox.start()
        try:
            self.stdout.write(
                f"SMTP sandbox listening on {host}:{sandbox.port}, "
                f"storing mail in {store.resolve()}, answers in {inboxes.resolve()} "
                "(Ctrl-C to stop)"
            )
            # Piped output is block-buffered: whoever waits for this line needs it now.
            self.stdout.flush()
            threading.Event().wait()
        except KeyboardInterrupt:
            self.stdout.write("SMTP sandbox stopped.")
        finally:
            sandbox.stop()

    def _log_to_stdout(self) -> None:
        # One line per accepted or refused message, next to the listening line.
        log_to(self.stdout, smtp_server.__name__)
        # aiosmtpd logs every connection and command at INFO, and a warning of its own
        # deprecation (Session.login_data) at every AUTH: keep its errors only.
        logging.getLogger("mail.log").setLevel(logging.ERROR)
