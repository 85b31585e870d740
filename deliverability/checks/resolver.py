"""DNS lookups that never raise: every answer or failure becomes a `Lookup`.

The checks read records from a `Lookups` session, which remembers each answer for the
length of one call (an SPF include reached twice is asked once) and turns every DNS
failure into the reason a check could not be concluded.
"""

from __future__ import annotations

import ipaddress
import re
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import dns.exception
import dns.name
import dns.nameserver
import dns.rdata
import dns.rdatatype
import dns.resolver
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

DNS_PORT = 53
# Lookups of one call run side by side, so that a domain whose server never answers
# costs one timeout rather than one per lookup.
MAX_PARALLEL = 8
# Control characters but tab and newline (C0, DEL and C1): DNS text may hold any byte, but
# these have no business in a record shown to people, and PostgreSQL text columns refuse NUL.
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def make_resolver() -> dns.resolver.Resolver:
    """A resolver from the settings: DNS_NAMESERVERS (else the system's) and DNS_TIMEOUT.

    The timeout bounds one lookup, retries included (dnspython's `lifetime`). A malformed
    DNS_NAMESERVERS entry is a configuration error (ImproperlyConfigured); a missing system
    configuration is dnspython's NoResolverConfiguration, a DNS problem.
    """
    nameservers = [_nameserver(entry) for entry in settings.DNS_NAMESERVERS]
    if nameservers:
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = nameservers
    else:
        resolver = dns.resolver.Resolver()
    resolver.timeout = resolver.lifetime = float(settings.DNS_TIMEOUT)
    return resolver


def _nameserver(entry: str) -> dns.nameserver.Do53Nameserver:
    """ "192.0.2.1", "192.0.2.1:5300", "2001:db8::1" or "[2001:db8::1]:5300"."""
    text = entry.strip()
    host, port = text, str(DNS_PORT)
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        if rest:
            if not rest.startswith(":"):
                raise ImproperlyConfigured(f"DNS_NAMESERVERS: cannot read {entry!r}.")
            port = rest[1:]
    elif text.count(":") == 1:
        host, port = text.split(":")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ImproperlyConfigured(
            f"DNS_NAMESERVERS: {entry!r} is not an IP address (optionally with :port)."
        ) from None
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ImproperlyConfigured(f"DNS_NAMESERVERS: {entry!r} has no valid port.")
    return dns.nameserver.Do53Nameserver(host, int(port))


def failure_reason(exc: dns.exception.DNSException, lifetime: float) -> str:
    """Why a lookup gave no answer, as words that follow "Could not be checked: "."""
    if isinstance(exc, dns.exception.Timeout):
        return f"DNS timeout (no answer within {lifetime:g} s)"
    if isinstance(exc, dns.resolver.NoNameservers):
        return "the DNS servers refused or failed to answer"
    message = str(exc).rstrip(".")
    return f"DNS error {type(exc).__name__} ({message})" if message else type(exc).__name__


def unchecked_sentence(reason: str, name: str = "") -> str:
    where = f" looking up {name}" if name else ""
    return f"Could not be checked: {reason}{where}."


@dataclass(frozen=True, slots=True)
class Lookup:
    """The answer to one question: records, NXDOMAIN, or why there is no answer."""

    name: str
    rdtype: str
    records: tuple[dns.rdata.Rdata, ...] = ()
    nxdomain: bool = False
    # Why no answer came ("" when one did), for "Could not be checked: <error>."
    error: str = ""

    @property
    def failed(self) -> bool:
        return bool(self.error)

    def texts(self) -> list[str]:
        """TXT records, each one's strings joined without a separator (RFC 7208 3.3).

        Control characters (see CONTROL) are shown as escapes: NUL as the four characters
        \\x00, so that nothing built from DNS text carries them.
        """
        return [
            visible(b"".join(record.strings).decode("utf-8", "replace"))
            for record in self.records
            if record.rdtype == dns.rdatatype.TXT
        ]


def visible(text: str) -> str:
    """The text with its control characters (but tab and newline) written as \\xNN."""
    return CONTROL.sub(lambda match: f"\\x{ord(match.group()):02x}", text)


class Lookups:
    """One call's lookups through one resolver, remembered by name and type."""

    def __init__(self, resolver: dns.resolver.Resolver) -> None:
        self.resolver = resolver
        self._answers: dict[tuple[str, str], Lookup] = {}
        self._lock = threading.Lock()

    @property
    def lifetime(self) -> float:
        return float(self.resolver.lifetime)

    def query(self, name: str, rdtype: str) -> Lookup:
        key = (name.lower().rstrip("."), rdtype)
        with self._lock:
            known = self._answers.get(key)
        if known is not None:
            return known
        answer = self._ask(key[0], rdtype)
        with self._lock:
            self._answers[key] = answer
        return answer

    def _ask(self, name: str, rdtype: str) -> Lookup:
        try:
            qname = dns.name.from_text(name)
            answer = self.resolver.resolve(qname, rdtype, raise_on_no_answer=False, search=False)
        except dns.resolver.NXDOMAIN:
            return Lookup(name, rdtype, nxdomain=True)
        except dns.exception.DNSException as exc:
            return Lookup(name, rdtype, error=failure_reason(exc, self.lifetime))
        # A CNAME chain is followed by the resolver: keep only the records of the type asked.
        wanted = dns.rdatatype.from_text(rdtype)
        records = tuple(answer.rrset) if answer.rrset is not None else ()
        return Lookup(name, rdtype, tuple(r for r in records if r.rdtype == wanted))


def parallel[T, R](function: Callable[[T], R], items: Iterable[T]) -> list[R]:
    """function(item) for each item, side by side, results in the items' order."""
    items = list(items)
    if len(items) <= 1:
        return [function(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL, len(items))) as pool:
        return list(pool.map(function, items))
