"""Time of the deliverability checks of one mailbox, against the DNS sandbox on loopback.

    .venv/bin/python bench/bench_domain_checks.py [--rounds N]

Each round checks every fixture domain of sandboxes/dns_zones (DNS records and
blocklists, side by side as a worker does), each with a fresh resolver as a worker's task
has: no cache between runs. On loopback a lookup costs what dnspython and the sandbox
spend, so the numbers are our own overhead; in production each lookup adds the resolver's
round trip, which the parallel lookups of one check overlap. The silent zone measures how
long a domain whose servers never answer holds a worker, with DNS_TIMEOUT at its default.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DEBUG", "true")  # the development setup, as manage.py runs it

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402

from deliverability.checks import Sender  # noqa: E402
from deliverability.models import DomainCheckRun  # noqa: E402
from deliverability.services import sender_check  # noqa: E402
from sandboxes.dns_server import ZONES, DnsSandbox, load_zones  # noqa: E402

PROVIDERS = {"msft.test": "microsoft", "msftoff.test": "microsoft", "globex.test": "microsoft"}


class CountingSandbox(DnsSandbox):
    queries = 0

    def answer(self, query):
        self.queries += 1
        return super().answer(query)


def senders() -> list[Sender]:
    """A sender at each fixture domain (the .test zones but the silent one)."""
    return [
        Sender(
            domain=path.stem,
            provider=PROVIDERS.get(path.stem, "gmail"),
            smtp_host="mail.listed.test" if path.stem == "listed.test" else "smtp.good.test",
        )
        for path in sorted(ZONES.glob("*.test.zone"))
        if path.stem != "slow.test"
    ]


def check(sender: Sender) -> int:
    """A worker's daily check, without the database: what it finds, as it finds it."""
    return len(sender_check(sender, DomainCheckRun.Scope.ALL))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    logging.getLogger("sandboxes.dns_server").setLevel(logging.WARNING)

    with CountingSandbox(load_zones(ZONES), silent=["slow.test"]) as sandbox:
        settings.DNS_NAMESERVERS = [sandbox.nameserver]
        domains = senders()
        for sender in domains:  # warm-up: imports, thread pools
            check(sender)
        sandbox.queries = 0
        timings, results = [], 0
        started = time.perf_counter()
        for _ in range(args.rounds):
            for sender in domains:
                begin = time.perf_counter()
                results += check(sender)
                timings.append(time.perf_counter() - begin)
        elapsed = time.perf_counter() - started
        runs = len(timings)
        quantiles = statistics.quantiles(timings, n=100)
        print(f"domains: {len(domains)} fixture domains x {args.rounds} rounds = {runs} checks")
        print(
            f"one mailbox's full check (DNS records + blocklists): "
            f"p50 {quantiles[49] * 1000:.1f} ms, p95 {quantiles[94] * 1000:.1f} ms, "
            f"max {max(timings) * 1000:.1f} ms"
        )
        print(
            f"throughput in one process: {runs / elapsed:.1f} checks/s, "
            f"{results / runs:.1f} results and {sandbox.queries / runs:.1f} DNS queries a check"
        )

        silent = Sender(domain="slow.test", provider="gmail", smtp_host="smtp.slow.test")
        begin = time.perf_counter()
        check(silent)
        print(
            f"a domain whose servers never answer (DNS_TIMEOUT {settings.DNS_TIMEOUT:g} s): "
            f"{time.perf_counter() - begin:.2f} s for the full check"
        )


if __name__ == "__main__":
    main()
