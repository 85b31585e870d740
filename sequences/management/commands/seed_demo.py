from __future__ import annotations

from django.core.management.base import BaseCommand, CommandParser

from sequences.demo import DEFAULT_SIZE, seed_demo


class Command(BaseCommand):
    help = "Create the demo accounts (idempotent). --size sets about how many emails."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--size", type=int, default=DEFAULT_SIZE)

    def handle(self, *args: object, size: int, **options: object) -> None:
        summary = seed_demo(size=size)
        self.stdout.write(f"Demo ready: {', '.join(summary.organizations)}.")
        counts = ", ".join(f"{n} {status}" for status, n in summary.emails_by_status.items())
        self.stdout.write(f"Emails: {counts}.")
        self.stdout.write("Demo logins (username / password):")
        for username, password, role in summary.logins:
            self.stdout.write(f"  {username} / {password}  ({role})")
