"""DNS blocklists (RFC 5782): is the SMTP server's address or the domain listed?

For Google Workspace and Microsoft 365 mailboxes only the domain is looked up (see
SHARED_OUTBOUND_PROVIDERS).

An address is looked up as its reversed octets under the list's zone
(192.0.2.10 on zen.spamhaus.org: 10.2.0.192.zen.spamhaus.org), a domain as itself under
the zone (acme.com.dbl.spamhaus.org). NXDOMAIN means not listed; an A record in 127.0.0.0/8
is a listing whose last octets say why, except the codes a list uses to refuse the query.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field

from deliverability.checks.resolver import Lookups, parallel, unchecked_sentence
from deliverability.checks.results import (
    Check,
    CheckResult,
    Sender,
    Verdict,
    organizational_domain,
    result,
)

SPAMHAUS_REMOVAL = (
    "Look the listing up at https://check.spamhaus.org/ and follow its removal steps once the "
    "cause (a compromised account, an infected machine, bought lists) is fixed."
)
SPAMHAUS_ERRORS = {
    "127.255.255.252": "Spamhaus answered that the query was malformed (a typo in the zone name)",
    "127.255.255.254": "Spamhaus refuses queries sent through a public or open resolver "
    "(use your own resolver or Spamhaus DQS)",
    "127.255.255.255": "Spamhaus refuses the query because this resolver sent too many",
}
XBL = "XBL: the address runs infected or exploited software, e.g. a botnet or an open proxy"
PBL = "PBL: an address range that should not send mail directly"
ABUSED = "a legitimate domain Spamhaus lists because it is abused"


@dataclass(frozen=True, slots=True)
class Blocklist:
    codes: dict[str, str] = field(default_factory=dict)  # return code: what the listing means
    errors: dict[str, str] = field(default_factory=dict)  # return code: why it is no verdict
    removal: str = ""


# Return codes as each list documents them.
BLOCKLISTS = {
    "zen.spamhaus.org": Blocklist(
        codes={
            "127.0.0.2": "SBL: a spam source Spamhaus listed",
            "127.0.0.3": "SBL CSS: a source of snowshoe spam (spam spread over many addresses)",
            "127.0.0.4": XBL,
            "127.0.0.5": XBL,
            "127.0.0.6": XBL,
            "127.0.0.7": XBL,
            "127.0.0.9": "DROP: a hijacked network",
            "127.0.0.10": PBL,
            "127.0.0.11": PBL,
        },
        errors=SPAMHAUS_ERRORS,
        removal=SPAMHAUS_REMOVAL,
    ),
    "dbl.spamhaus.org": Blocklist(
        codes={
            "127.0.1.2": "a spam domain",
            "127.0.1.4": "a phishing domain",
            "127.0.1.5": "a malware domain",
            "127.0.1.6": "a botnet command-and-control domain",
            "127.0.1.102": f"{ABUSED} in spam",
            "127.0.1.103": f"{ABUSED} as a redirector in spam",
            "127.0.1.104": f"{ABUSED} for phishing",
            "127.0.1.105": f"{ABUSED} for malware",
            "127.0.1.106": f"{ABUSED} for botnet command and control",
        },
        errors={
            **SPAMHAUS_ERRORS,
            "127.0.1.255": "Spamhaus answered that an IP address was queried instead of a domain",
        },
        removal=SPAMHAUS_REMOVAL,
    ),
    "bl.spamcop.net": Blocklist(
        codes={"127.0.0.2": "reported by SpamCop users as a spam source"},
        removal="SpamCop delists an address by itself 24 hours after the reports stop: find "
        "and stop what sends the reported mail (https://www.spamcop.net/bl.shtml).",
    ),
    "b.barracudacentral.org": Blocklist(
        codes={"127.0.0.2": "listed by Barracuda's reputation system"},
        removal="Request removal at https://www.barracudacentral.org/rbl/removal-request once "
        "the cause is fixed.",
    ),
}

# Providers whose mailboxes send through the provider's own outbound servers. Their
# smtp_host is the submission endpoint (smtp.gmail.com, smtp.office365.com), whose addresses
# rotate and are not the ones receivers see: mail leaves from shared outbound servers whose
# reputation the provider manages. Looking those endpoints up on blocklists says nothing
# about this mailbox's mail (and would blame it for a listing it cannot act on), so only the
# domain is looked up for them.
SHARED_OUTBOUND_PROVIDERS = frozenset({"gmail", "microsoft"})

LOOPBACK = ipaddress.ip_network("127.0.0.0/8")
# Addresses no receiver ever sees a message come from. Python's `is_global` is not used:
# it also rejects the documentation ranges (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24),
# which stand for public addresses in examples and in the tests' fixture zones.
NOT_ROUTED = tuple(
    ipaddress.ip_network(network)
    for network in (
        "0.0.0.0/8",  # "this network"
        "10.0.0.0/8",  # private (RFC 1918)
        "100.64.0.0/10",  # carrier-grade NAT (RFC 6598)
        "127.0.0.0/8",  # loopback
        "169.254.0.0/16",  # link-local
        "172.16.0.0/12",  # private (RFC 1918)
        "192.0.0.0/24",  # IETF protocol assignments
        "192.168.0.0/16",  # private (RFC 1918)
        "198.18.0.0/15",  # benchmarking (RFC 2544)
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, and the broadcast address
        "::/127",  # unspecified and loopback
        "::ffff:0:0/96",  # IPv4-mapped
        "fc00::/7",  # unique local
        "fe80::/10",  # link-local
        "ff00::/8",  # multicast
    )
)


def blocklist(zone: str) -> Blocklist:
    known = BLOCKLISTS.get(zone)
    if known is not None:
        return known
    spamhaus = zone.endswith((".spamhaus.org", ".spamhaus.net"))
    return Blocklist(
        errors=SPAMHAUS_ERRORS if spamhaus else {},
        removal=SPAMHAUS_REMOVAL
        if spamhaus
        else f"Look the listing up on the website of {zone} and follow its removal steps.",
    )


def blocklist_subject(sender: Sender, domain: str) -> str:
    """What a blocklist check is about, as a whole: the SMTP server, else the domain."""
    if sender.provider in SHARED_OUTBOUND_PROVIDERS:
        return domain
    return sender.smtp_host or domain


def is_routed(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Whether a receiver can see mail come from this address (see NOT_ROUTED)."""
    return not any(
        address in network for network in NOT_ROUTED if network.version == address.version
    )


def lookup_blocklists(
    lookups: Lookups,
    sender: Sender,
    domain: str,
    ip_zones: list[str],
    domain_zones: list[str],
) -> list[CheckResult]:
    ip_zones = [zone.strip().strip(".").lower() for zone in ip_zones if zone.strip()]
    domain_zones = [zone.strip().strip(".").lower() for zone in domain_zones if zone.strip()]
    # Each item makes one result; the lookups run side by side.
    items: list[Callable[[], CheckResult]] = []
    if ip_zones and sender.provider not in SHARED_OUTBOUND_PROVIDERS:
        early, addresses = _server_addresses(lookups, sender)
        items += [lambda done=done: done for done in early]
        for address in addresses:
            if not is_routed(address):
                items.append(lambda address=address: _unrouted(address))
                continue
            reversed_octets = ".".join(reversed(str(address).split(".")))
            for zone in ip_zones:
                items.append(
                    lambda address=address, zone=zone, query=reversed_octets: _listing(
                        lookups, f"{address} on {zone}", f"{query}.{zone}", zone, str(address)
                    )
                )
    # Domain lists name registered domains: a subdomain's is looked up too.
    for name in dict.fromkeys([domain, organizational_domain(domain)] if domain else []):
        for zone in domain_zones:
            items.append(
                lambda name=name, zone=zone: _listing(
                    lookups, f"{name} on {zone}", f"{name}.{zone}", zone, name
                )
            )
    return parallel(lambda item: item(), items)


def _server_addresses(
    lookups: Lookups, sender: Sender
) -> tuple[list[CheckResult], list[ipaddress.IPv4Address]]:
    """The SMTP server's IPv4 addresses, or the result that says why there are none.

    IPv6 addresses are not looked up: most blocklists list IPv4 addresses only, and a server
    that sends over IPv6 is judged by its domain and authentication more than by lists.
    """
    host = sender.smtp_host.strip().strip("[]").rstrip(".")
    if not host:
        return [
            result(
                Check.BLOCKLIST,
                "SMTP server",
                Verdict.UNCHECKED,
                "Could not be checked: the mailbox has no SMTP server set, so there is no "
                "server address to look up.",
            )
        ], []
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        if literal.version == 6:
            return [
                result(
                    Check.BLOCKLIST,
                    host,
                    Verdict.UNCHECKED,
                    f"{host} is an IPv6 address, which is not checked: most blocklists list "
                    "IPv4 addresses only.",
                )
            ], []
        return [], [literal]
    answer = lookups.query(host, "A")
    if answer.failed:
        return [
            result(Check.BLOCKLIST, host, Verdict.UNCHECKED, unchecked_sentence(answer.error))
        ], []
    if not answer.records:
        why = "does not exist in DNS" if answer.nxdomain else "has no IPv4 address"
        return [
            result(
                Check.BLOCKLIST,
                host,
                Verdict.UNCHECKED,
                f"Could not be checked: the SMTP server {host} {why}, so its address is unknown.",
                action="Check the SMTP server name in the mailbox's settings.",
            )
        ], []
    addresses = sorted({ipaddress.IPv4Address(record.address) for record in answer.records})
    return [], addresses


def _unrouted(address: ipaddress.IPv4Address) -> CheckResult:
    return result(
        Check.BLOCKLIST,
        str(address),
        Verdict.UNCHECKED,
        f"{address} is a private or reserved address, which receivers never see: they see the "
        "public address the server sends from, which this check does not know.",
    )


def _listing(lookups: Lookups, subject: str, query: str, zone: str, what: str) -> CheckResult:
    answer = lookups.query(query, "A")
    if answer.failed:
        return result(Check.BLOCKLIST, subject, Verdict.UNCHECKED, unchecked_sentence(answer.error))
    if answer.nxdomain or not answer.records:
        return result(Check.BLOCKLIST, subject, Verdict.PASS, f"{what} is not listed on {zone}.")
    codes = sorted({record.address for record in answer.records}, key=ipaddress.IPv4Address)
    found = "\n".join(codes)
    strange = [code for code in codes if ipaddress.IPv4Address(code) not in LOOPBACK]
    if strange:
        return result(
            Check.BLOCKLIST,
            subject,
            Verdict.UNCHECKED,
            f"Could not be checked: the resolver answered {strange[0]}, not a blocklist code: "
            "it may rewrite NXDOMAIN (the answer for names that do not exist).",
            action="Ask whoever runs this application to use a DNS resolver that does not "
            "rewrite answers.",
            found=found,
        )
    listing = blocklist(zone)
    errors = [listing.errors[code] for code in codes if code in listing.errors]
    if errors:
        return result(
            Check.BLOCKLIST,
            subject,
            Verdict.UNCHECKED,
            f"Could not be checked: {errors[0]}.",
            action="Ask whoever runs this application to query the blocklist through its own "
            "DNS resolver.",
            found=found,
        )
    meanings = list(
        dict.fromkeys(listing.codes.get(code, f"listed (return code {code})") for code in codes)
    )
    reasons = lookups.query(query, "TXT")
    if reasons.texts():
        found = "\n".join([found, *reasons.texts()])
    return result(
        Check.BLOCKLIST,
        subject,
        Verdict.FAIL,
        f"{what} is listed on {zone} ({'; '.join(meanings)}), so receivers that use this list "
        "reject or junk its mail.",
        action=listing.removal,
        found=found,
    )
