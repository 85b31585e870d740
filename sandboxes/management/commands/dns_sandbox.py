from __future__ import annotations

import threading
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from sandboxes import dns_server
from sandboxes.background import log_to
from sandboxes.dns_server import ZONES, DnsSandbox, load_zones


class Command(BaseCommand):
    help = (
        "Run the local DNS sandbox until Ctrl-C: an authoritative server for the zone files "
        "of a folder (by default the demo's domains and blocklists), which the deliverability "
        "checks resolve against in development."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=settings.DNS_SANDBOX_PORT)
        parser.add_argument(
            "--zones", type=Path, default=ZONES, help="A folder of <origin>.zone files."
        )
        parser.add_argument(
            "--silent",
            action="append",
            default=[],
            metavar="ZONE",
            help="Never answer for this zone (resolvers time out). Repeatable.",
        )

    def handle(
        self, *args: object, host: str, port: int, zones: Path, silent: list[str], **options: object
    ) -> None:
        log_to(self.stdout, dns_server.__name__)
        loaded = load_zones(zones)
        sandbox = DnsSandbox(loaded, host=host, port=port, silent=silent)
        sandbox.start()
        try:
            names = ", ".join(zone.origin.to_text(omit_final_dot=True) for zone in loaded)
            self.stdout.write(f"DNS sandbox on {sandbox.nameserver} (UDP and TCP) serving {names}")
            self.stdout.flush()
            threading.Event().wait()
        except KeyboardInterrupt:
            self.stdout.write("DNS sandbox stopped.")
        finally:
            sandbox.stop()
