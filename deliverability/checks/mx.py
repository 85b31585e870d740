"""MX: can the sender's domain receive mail (replies, bounces)? RFC 5321 5.1, RFC 7505."""

from __future__ import annotations

from dataclasses import dataclass

from deliverability.checks.resolver import Lookups, parallel, unchecked_sentence
from deliverability.checks.results import (
    Check,
    CheckResult,
    Sender,
    Verdict,
    fqdn,
    menu,
    result,
)

# Hosts whose addresses are looked up; a longer MX list is a misconfiguration of its own.
MAX_HOSTS = 10
WHY_MX = (
    "replies and bounces are lost, and many receivers distrust a sender domain that cannot "
    "receive mail"
)


@dataclass(frozen=True, slots=True)
class _Host:
    name: str
    resolves: bool
    error: str = ""


def check_mx(lookups: Lookups, sender: Sender, domain: str) -> CheckResult:
    answer = lookups.query(domain, "MX")
    if answer.failed:
        return result(Check.MX, domain, Verdict.UNCHECKED, unchecked_sentence(answer.error))
    if answer.nxdomain:
        return result(
            Check.MX,
            domain,
            Verdict.FAIL,
            f"The domain {domain} does not exist in DNS, so no mail can be delivered to it and "
            "receivers reject or distrust mail from it.",
            action=f"Check the spelling of {domain} in the mailbox's address, or register it.",
        )
    found = "\n".join(sorted(record.to_text() for record in answer.records))
    servers = _provider_mx(sender, domain)
    if not answer.records:
        # Without MX a sender falls back to the domain's address record (RFC 5321 5.1,
        # "implicit MX"), which is almost never a mail server: a failure all the same.
        return result(
            Check.MX,
            domain,
            Verdict.FAIL,
            f"{domain} has no MX record (the servers that receive its mail), so {WHY_MX}.",
            action=f"Add {servers} to {domain}'s DNS.",
            record=_mx_suggestion(sender, domain),
        )
    if any(record.exchange.to_text() == "." for record in answer.records):
        if len(answer.records) > 1:
            explanation = (
                f"{domain} publishes a null MX (RFC 7505) next to other MX records, which "
                "contradict each other, so many servers treat it as a domain that accepts no mail."
            )
        else:
            explanation = (
                f'{domain} publishes a null MX ("0 .", RFC 7505), which declares that it '
                f"accepts no mail, so {WHY_MX}."
            )
        return result(
            Check.MX,
            domain,
            Verdict.FAIL,
            explanation,
            action=f"Replace the null MX with {servers}.",
            record=_mx_suggestion(sender, domain),
            found=found,
        )
    ordered = sorted(answer.records, key=lambda record: (record.preference, record.to_text()))
    names = list(dict.fromkeys(record.exchange.to_text(omit_final_dot=True) for record in ordered))
    hosts = parallel(lambda name: _resolve_host(lookups, name), names[:MAX_HOSTS])
    good = [host.name for host in hosts if host.resolves]
    bad = [host.name for host in hosts if not host.resolves and not host.error]
    unknown = [host for host in hosts if host.error]
    if not good and unknown:
        first = unknown[0]
        return result(
            Check.MX,
            domain,
            Verdict.UNCHECKED,
            unchecked_sentence(first.error, first.name),
            found=found,
        )
    if not good:
        return result(
            Check.MX,
            domain,
            Verdict.FAIL,
            f"None of the MX hosts of {domain} ({_listing(bad)}) has an IP address, so no mail "
            f"can reach the domain: {WHY_MX}.",
            action=f"Add the missing address records, or replace the MX records with {servers}.",
            record=_mx_suggestion(sender, domain),
            found=found,
        )
    if bad:
        one = len(bad) == 1
        return result(
            Check.MX,
            domain,
            Verdict.WARNING,
            f"Mail for {domain} can reach {_listing(good)}, but {_listing(bad)} "
            f"{'has' if one else 'have'} no IP address, so servers that try "
            f"{'it' if one else 'them'} waste time and may delay mail.",
            action=f"Remove the MX record{'' if one else 's'} for {_listing(bad)} "
            "or add the missing address record.",
            found=found,
        )
    note = ""
    if unknown:
        note = f" ({_listing([host.name for host in unknown])} could not be checked)"
    return result(
        Check.MX,
        domain,
        Verdict.PASS,
        f"{domain} receives mail at {_listing(good)}{note}.",
        found=found,
    )


def _resolve_host(lookups: Lookups, name: str) -> _Host:
    for rdtype in ("A", "AAAA"):
        answer = lookups.query(name, rdtype)
        if answer.records:
            return _Host(name, resolves=True)
        if answer.failed:
            return _Host(name, resolves=False, error=answer.error)
        if answer.nxdomain:
            break  # the name does not exist: no need to ask for IPv6 addresses
    return _Host(name, resolves=False)


def _listing(names: list[str]) -> str:
    if len(names) <= 2:
        return " and ".join(names)
    return ", ".join(names[:-1]) + f" and {names[-1]}"


def _provider_mx(sender: Sender, domain: str) -> str:
    """The MX records to publish, as words that follow "Add" or "Replace … with"."""
    if sender.provider == "gmail":
        return "Google Workspace's MX record (below)"
    if sender.provider == "microsoft":
        return (
            "Microsoft 365's MX record (below; the exact host is shown in the "
            f"{menu('Microsoft 365 admin center', 'Settings', 'Domains')})"
        )
    return "the MX records your mail provider gives you"


def _mx_suggestion(sender: Sender, domain: str) -> str:
    if sender.provider == "gmail":
        return f"{fqdn(domain)} MX 1 smtp.google.com."
    if sender.provider == "microsoft":
        return f"{fqdn(domain)} MX 0 {domain.replace('.', '-')}.mail.protection.outlook.com."
    return ""
