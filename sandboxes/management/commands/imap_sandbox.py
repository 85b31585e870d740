from __future__ import annotations

import threading
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from sandboxes.imap_server import ImapSandbox


class Command(BaseCommand):
    help = (
        "Serve the SMTP sandbox's per-login Maildirs over IMAP until Ctrl-C (pymap; any "
        "password but `wrong`; see sandboxes/imap_server.py)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument(
            "--port", type=int, default=settings.IMAP_SANDBOX_PORT, help="0 picks a free port."
        )
        parser.add_argument(
            "--root",
            type=Path,
            default=settings.DATA_DIR / "sandbox-inboxes",
            help="The folder of Maildirs, one per login (smtp_sandbox --inboxes).",
        )

    def handle(self, *args: object, host: str, port: int, root: Path, **options: object) -> None:
        sandbox = ImapSandbox(root=root, host=host, port=port)
        sandbox.start()
        try:
            self.stdout.write(
                f"IMAP sandbox listening on {host}:{sandbox.port}, serving the Maildirs of "
                f"{root.resolve()} (Ctrl-C to stop)"
            )
            # Piped output is block-buffered: whoever waits for this line needs it now.
            self.stdout.flush()
            threading.Event().wait()
        except KeyboardInterrupt:
            self.stdout.write("IMAP sandbox stopped.")
        finally:
            sandbox.stop()
