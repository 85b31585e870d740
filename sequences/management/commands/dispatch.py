from __future__ import annotations

import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from sequences.services.sending import BatchResult, Claim, emails_dispatch, emails_send_batch


class Command(BaseCommand):
    help = (
        "Send what is due in this process: claim due emails, send them, record the outcome. "
        "With --once, one cycle and a summary per status; without, loop like a worker."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="run one cycle, then exit")

    def handle(self, *args: object, once: bool, **options: object) -> None:
        while True:
            result = self._cycle()
            if once:
                for status, count in sorted(result.by_status.items()):
                    self.stdout.write(f"{status}: {count}")
                if not result.by_status:
                    self.stdout.write("nothing due")
                return
            time.sleep(settings.DISPATCH_INTERVAL_SECONDS)

    def _cycle(self) -> BatchResult:
        result = BatchResult()

        def send(claim: Claim) -> None:
            result.add(
                emails_send_batch(
                    mailbox_id=claim.mailbox_id,
                    email_ids=claim.email_ids,
                    claimed_at=claim.claimed_at,
                )
            )

        dispatched = emails_dispatch(handle=send)
        if dispatched.recovered:
            self.stdout.write(f"recovered {dispatched.recovered} stale claims")
        return result
