"""SPF (RFC 7208): which servers may send mail as the sender's domain.

The record at the domain is read, its syntax checked (section 12's grammar), and every
include: and redirect= followed, to count the DNS lookups an evaluator would make (at most
10, section 4.6.4) and to find the mail provider's include. The "void lookup" limit (two
names that do not exist) and the 10-name limit of one mx mechanism are not checked: they
need the a/mx targets resolved, which says more about the receiver's view than the record.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field

from deliverability.checks.blocklists import is_routed
from deliverability.checks.resolver import Lookups, unchecked_sentence
from deliverability.checks.results import (
    Check,
    CheckResult,
    Sender,
    Verdict,
    quoted,
    result,
    txt_record,
)

MAX_LOOKUPS = 10
# Following stops there: the count is already known to be too high, and a broken tree must
# not cost hundreds of lookups.
HARD_LIMIT = 40
MECHANISMS = frozenset({"all", "include", "a", "mx", "ptr", "ip4", "ip6", "exists"})
# Mechanisms that make the evaluator query DNS; redirect= counts too (section 4.6.4).
LOOKUP_MECHANISMS = frozenset({"include", "a", "mx", "ptr", "exists"})

PROVIDER_INCLUDE = {"gmail": "_spf.google.com", "microsoft": "spf.protection.outlook.com"}
PROVIDER_SERVERS = {"gmail": "Google's servers", "microsoft": "Microsoft 365's servers"}
# What each provider's documentation recommends to end the record with.
PROVIDER_ALL = {"gmail": "~all", "microsoft": "-all"}

VERSION = re.compile(r"v=spf1(?: |$)", re.IGNORECASE)
ALL_TERM = re.compile(r"[+\-~?]?all", re.IGNORECASE)
TERM = re.compile(r"([+\-~?]?)([A-Za-z][A-Za-z0-9\-_.]*)(.*)", re.DOTALL)
MODIFIER_TOKEN = re.compile(r"[A-Za-z][A-Za-z0-9\-_.]*=")
# Section 7.1: macro-expand; c, r and t exist only in exp= explanations.
DOMAIN_MACRO = r"%\{[slodiphvSLODIPHV][0-9]*[rR]?[.\-+,/_=]*\}|%%|%_|%-"
ANY_MACRO = r"%\{[slodiphcrtvSLODIPHCRTV][0-9]*[rR]?[.\-+,/_=]*\}|%%|%_|%-"
LITERAL = r"[\x21-\x24\x26-\x7e]"
DOMAIN_MACRO_STRING = re.compile(rf"(?:{DOMAIN_MACRO}|{LITERAL})+")
ANY_MACRO_STRING = re.compile(rf"(?:{ANY_MACRO}|{LITERAL})*")
TOPLABEL = r"(?:[A-Za-z0-9]*[A-Za-z][A-Za-z0-9]*|[A-Za-z0-9]+-[A-Za-z0-9\-]*[A-Za-z0-9])"
DOMAIN_END = re.compile(rf"(?:\.{TOPLABEL}\.?|(?:{DOMAIN_MACRO}))$")
DUAL_CIDR = re.compile(
    r"(?::(?P<domain>.+?))?(?P<cidr4>/(?:0|[1-9][0-9]?))?(?P<cidr6>//(?:0|[1-9][0-9]{0,2}))?",
    re.DOTALL,
)
CIDR4 = re.compile(r"0|[1-9][0-9]?")
CIDR6 = re.compile(r"0|[1-9][0-9]{0,2}")

# The SPF result a matching mechanism gives with each qualifier (section 4.6.2).
QUALIFIER_RESULT = {"+": "pass", "-": "fail", "~": "softfail", "?": "neutral"}

ALL_MEANING = {
    "-": "tells receivers to reject mail from any other server",
    "~": "tells receivers to treat mail from any other server as suspicious",
}


class SpfSyntaxError(ValueError):
    def __init__(self, term: str, reason: str) -> None:
        super().__init__(f"{term}: {reason}")
        self.term = term
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Term:
    text: str
    name: str  # the mechanism or modifier, lower case
    qualifier: str  # "+", "-", "~" or "?" for a mechanism ("+" when omitted), "" for a modifier
    value: str = ""  # after ":" or "=" (a domain-spec, a network, a modifier's value)

    @property
    def is_modifier(self) -> bool:
        return not self.qualifier


@dataclass(frozen=True, slots=True)
class SpfRecord:
    text: str
    terms: tuple[Term, ...]

    @property
    def all_term(self) -> Term | None:
        return next((term for term in self.terms if term.name == "all"), None)

    @property
    def evaluated(self) -> tuple[Term, ...]:
        """The mechanisms an evaluator may reach: none after the first all (section 5.1)."""
        mechanisms = [term for term in self.terms if not term.is_modifier]
        for index, term in enumerate(mechanisms):
            if term.name == "all":
                return tuple(mechanisms[: index + 1])
        return tuple(mechanisms)

    @property
    def after_all(self) -> tuple[Term, ...]:
        mechanisms = [term for term in self.terms if not term.is_modifier]
        return tuple(mechanisms[len(self.evaluated) :])

    def modifier(self, name: str) -> Term | None:
        return next((t for t in self.terms if t.is_modifier and t.name == name), None)

    @property
    def redirect(self) -> Term | None:
        """redirect=, which has no effect when the record has an all mechanism (6.1)."""
        return None if self.all_term is not None else self.modifier("redirect")


def is_spf(text: str) -> bool:
    """An SPF record: "v=spf1" (any case) then a space or the end (section 4.5)."""
    return VERSION.match(text) is not None


def parse(text: str) -> SpfRecord:
    """The record's terms; SpfSyntaxError names the first invalid one."""
    terms = []
    seen_modifiers: set[str] = set()
    for token in text[len("v=spf1") :].split(" "):
        if not token:
            continue
        term = _parse_term(token)
        if term.name in ("redirect", "exp") and term.is_modifier:
            if term.name in seen_modifiers:
                raise SpfSyntaxError(token, f"{term.name}= may appear only once")
            seen_modifiers.add(term.name)
        terms.append(term)
    return SpfRecord(text, tuple(terms))


def _parse_term(token: str) -> Term:
    match = TERM.fullmatch(token)
    if match is None:
        raise SpfSyntaxError(token, "not a mechanism or a modifier")
    qualifier, name, rest = match.groups()
    lower = name.lower()
    if lower in MECHANISMS and (not rest or rest[0] in ":/"):
        value = _mechanism_value(token, lower, rest)
        return Term(token, lower, qualifier or "+", value)
    if rest.startswith("="):
        if qualifier:
            raise SpfSyntaxError(token, "a modifier takes no qualifier")
        value = rest[1:]
        if lower in ("redirect", "exp"):
            if not _valid_domain_spec(value):
                raise SpfSyntaxError(token, "not a valid domain")
        elif ANY_MACRO_STRING.fullmatch(value) is None:
            raise SpfSyntaxError(token, "not a valid modifier value")
        return Term(token, lower, "", value)
    raise SpfSyntaxError(token, "unknown mechanism")


def _mechanism_value(token: str, name: str, rest: str) -> str:
    if name == "all":
        if rest:
            raise SpfSyntaxError(token, "all takes no value")
        return ""
    if name in ("include", "exists"):
        if not rest.startswith(":") or not _valid_domain_spec(rest[1:]):
            raise SpfSyntaxError(token, f"{name} needs a valid domain after the colon")
        return rest[1:]
    if name == "ptr":
        if rest and (not rest.startswith(":") or not _valid_domain_spec(rest[1:])):
            raise SpfSyntaxError(token, "ptr takes an optional :domain only")
        return rest[1:]
    if name in ("a", "mx"):
        match = DUAL_CIDR.fullmatch(rest)
        if match is None:
            raise SpfSyntaxError(token, f"{name} takes an optional :domain and /prefix")
        domain = match.group("domain")
        if domain is not None and not _valid_domain_spec(domain):
            raise SpfSyntaxError(token, "not a valid domain")
        cidr4 = match.group("cidr4")
        cidr6 = match.group("cidr6")
        if (cidr4 and int(cidr4[1:]) > 32) or (cidr6 and int(cidr6[2:]) > 128):
            raise SpfSyntaxError(token, "prefix length out of range")
        return domain or ""
    # ip4 and ip6
    if not rest.startswith(":"):
        raise SpfSyntaxError(token, f"{name} needs an address after the colon")
    network, slash, prefix = rest[1:].rpartition("/") if "/" in rest else (rest[1:], "", "")
    kind = ipaddress.IPv4Address if name == "ip4" else ipaddress.IPv6Address
    try:
        # Python reads an IPv6 scope id (fe80::1%eth0), which SPF's grammar does not have.
        if "%" in network:
            raise ValueError(network)
        kind(network)
    except ValueError:
        raise SpfSyntaxError(token, f"not a valid IPv{name[-1]} address") from None
    if slash:
        pattern, top = (CIDR4, 32) if name == "ip4" else (CIDR6, 128)
        if pattern.fullmatch(prefix) is None or int(prefix) > top:
            raise SpfSyntaxError(token, "prefix length out of range")
    return rest[1:]


def _valid_domain_spec(spec: str) -> bool:
    """RFC 7208 domain-spec: a macro-string ending in a top label or a macro."""
    if DOMAIN_MACRO_STRING.fullmatch(spec) is None or DOMAIN_END.search(spec) is None:
        return False
    if "%" in spec:
        return True
    name = spec.rstrip(".")
    labels = name.split(".")
    return len(name) <= 253 and all(0 < len(label) <= 63 for label in labels)


def spf_texts(texts: list[str]) -> list[str]:
    return [text for text in texts if is_spf(text)]


@dataclass(frozen=True, slots=True)
class _Problem:
    kind: str  # "loop", "missing", "several", "syntax", "anyone"
    explanation: str


@dataclass(frozen=True, slots=True)
class _Qualified:
    """An include: with a qualifier other than +, on the way to a target."""

    domain: str  # whose record has it
    term: Term


@dataclass
class _Walk:
    """Follows include: and redirect= as an evaluator would, counting lookups."""

    lookups: Lookups
    count: int = 0
    # Targets of every include: and redirect= reached, lower case, without the final dot.
    targets: list[str] = field(default_factory=list)
    # Those first reached through + includes only: a match there is an SPF pass, where
    # "-include:x" gives the servers x lists a fail (section 5.2).
    authorized: list[str] = field(default_factory=list)
    # The others, each with the first include of another qualifier on the way to it.
    qualified: dict[str, _Qualified] = field(default_factory=dict)
    problem: _Problem | None = None
    unchecked: str = ""
    # The all term that decides for unlisted servers, after following redirect= (if any).
    final_all: Term | None = None
    uses_ptr: bool = False

    @property
    def stopped(self) -> bool:
        return bool(self.unchecked) or self.count > HARD_LIMIT or self.problem is not None

    def walk(
        self,
        domain: str,
        record: SpfRecord,
        path: tuple[str, ...],
        *,
        main: bool,
        qualified: _Qualified | None = None,
    ) -> None:
        if main:
            self.final_all = record.all_term
        for term in record.evaluated:
            if self.stopped:
                return
            self.uses_ptr = self.uses_ptr or term.name == "ptr"
            if term.name in LOOKUP_MECHANISMS:
                self.count += 1
            if term.name == "include":
                if qualified is None and term.qualifier != "+":
                    self.follow(domain, term, path, main=False, qualified=_Qualified(domain, term))
                else:
                    self.follow(domain, term, path, main=False, qualified=qualified)
            elif term.name == "all" and term.qualifier == "+" and path:
                self.problem = _Problem(
                    "anyone",
                    f"{domain}, which the SPF record of {path[0]} points to, ends in +all, so "
                    "it authorizes every server on the internet to send mail as you.",
                )
        redirect = record.redirect
        if redirect is not None and not self.stopped:
            self.count += 1
            self.follow(domain, redirect, path, main=main, qualified=qualified)

    def follow(
        self,
        domain: str,
        term: Term,
        path: tuple[str, ...],
        *,
        main: bool,
        qualified: _Qualified | None,
    ) -> None:
        if "%" in term.value:
            return  # depends on the sender's address: cannot be followed ahead of time
        target = term.value.rstrip(".").lower()
        # The first way to a target decides, as the first mechanism that matches does.
        if target not in self.targets:
            if qualified is None:
                self.authorized.append(target)
            else:
                self.qualified[target] = qualified
        self.targets.append(target)
        path = (*path, domain)
        if target in path:
            chain = " > ".join((*path[path.index(target) :], target))
            self.problem = _Problem(
                "loop",
                f"The SPF record of {path[0]} loops ({chain}), so receivers run out of "
                "lookups and SPF fails for every message.",
            )
            return
        answer = self.lookups.query(target, "TXT")
        if answer.failed:
            self.unchecked = unchecked_sentence(answer.error, target)
            return
        found = spf_texts(answer.texts())
        how = "includes" if term.name == "include" else "redirects to"
        if not found:
            self.problem = _Problem(
                "missing",
                f"The SPF record of {domain} {how} {target}, which has no SPF record, so "
                "receivers stop with an error and SPF fails for every message.",
            )
            return
        if len(found) > 1:
            self.problem = _Problem(
                "several",
                f"The SPF record of {domain} {how} {target}, which has {len(found)} SPF "
                "records, so receivers stop with an error and SPF fails for every message.",
            )
            return
        try:
            record = parse(found[0])
        except SpfSyntaxError as error:
            self.problem = _Problem(
                "syntax",
                f"The SPF record of {domain} {how} {target}, whose record has an invalid "
                f"term {quoted(error.term)} ({error.reason}), so SPF fails for every message.",
            )
            return
        self.walk(target, record, path, main=main, qualified=qualified)


def check_spf(lookups: Lookups, sender: Sender, domain: str) -> CheckResult:
    provider = sender.provider if sender.provider in PROVIDER_INCLUDE else "smtp"
    answer = lookups.query(domain, "TXT")
    if answer.failed:
        return result(Check.SPF, domain, Verdict.UNCHECKED, unchecked_sentence(answer.error))
    records = spf_texts(answer.texts())
    found = "\n".join(records)

    def outcome(verdict: str, explanation: str, action: str = "", record: str = "") -> CheckResult:
        return result(Check.SPF, domain, verdict, explanation, action, record, found)

    if not records:
        return outcome(Verdict.FAIL, *_missing(sender, provider, domain, answer.nxdomain))
    if len(records) > 1:
        # Sorted: DNS serves records in any order, the suggestion should not change with it.
        tokens = [token for text in sorted(records) for token in text.split()[1:]]
        return outcome(
            Verdict.FAIL,
            f"{domain} has {len(records)} SPF records, which receivers treat as a permanent "
            "error, so SPF fails for every message.",
            "Merge them into one record and delete the others.",
            txt_record(domain, suggest(tokens, provider)),
        )
    try:
        record = parse(records[0])
    except SpfSyntaxError as error:
        return outcome(
            Verdict.FAIL,
            f"{domain}'s SPF record has an invalid term {quoted(error.term)} ({error.reason}), so "
            "receivers stop with an error and SPF fails for every message.",
            f"Correct or remove {quoted(error.term)} in the SPF record.",
        )
    tokens = [term.text for term in record.terms]
    corrected = txt_record(domain, suggest(tokens, provider))
    if record.all_term is not None and record.all_term.qualifier == "+":
        return outcome(
            Verdict.FAIL,
            f"{domain}'s SPF record ends in +all, which authorizes every server on the "
            "internet to send mail as you, so it protects nothing and receivers distrust it.",
            f"Replace +all with {PROVIDER_ALL.get(provider, '~all')}.",
            corrected,
        )

    walk = _Walk(lookups)
    walk.walk(domain, record, (), main=True)
    if walk.problem is not None and walk.problem.kind == "loop":
        return outcome(Verdict.FAIL, walk.problem.explanation, "Remove the include that loops.")
    if walk.count > MAX_LOOKUPS:
        complete = not walk.stopped
        return outcome(
            Verdict.FAIL,
            f"{domain}'s SPF record needs {walk.count if complete else 'more than 10'} DNS "
            "lookups (include, a, mx, ptr, exists and redirect each count, in included records "
            "too) where 10 are allowed, so SPF fails for every message.",
            "Remove includes of services you no longer use, or replace some with the ip4: "
            "and ip6: ranges they stand for, to get to 10 lookups or fewer.",
        )
    if walk.problem is not None:
        return outcome(
            Verdict.FAIL,
            walk.problem.explanation,
            "Fix or remove the include it names.",
        )
    if walk.unchecked:
        return outcome(Verdict.UNCHECKED, walk.unchecked)

    include = PROVIDER_INCLUDE.get(provider)
    blocked = walk.qualified.get(include or "")
    if include is not None and include not in walk.authorized and blocked is not None:
        qualifier = blocked.term.qualifier
        return outcome(
            Verdict.FAIL,
            f"{blocked.domain}'s SPF record has {blocked.term.text}, whose {qualifier} "
            f"qualifier gives the servers it lists an SPF {QUALIFIER_RESULT[qualifier]}, so it "
            f"does not authorize {PROVIDER_SERVERS[provider]} and receivers see your mail as "
            "unauthenticated.",
            f"Write {blocked.term.text[1:]} instead of {blocked.term.text} in the SPF record "
            f"of {blocked.domain}.",
            # The corrected record helps when the qualifier is on the provider's include in
            # the domain's own record (another include in the way is the admin's to fix).
            corrected
            if blocked.domain == domain and blocked.term.value.rstrip(".").lower() == include
            else "",
        )
    if include is not None and include not in walk.authorized:
        return outcome(
            Verdict.FAIL,
            f"{domain}'s SPF record does not authorize {PROVIDER_SERVERS[provider]} "
            f"(include:{include}), so receivers see your mail as unauthenticated.",
            f"Add include:{include} to the SPF record.",
            corrected,
        )

    if (
        provider == "smtp"
        and record.redirect is None
        and not any(term.qualifier == "+" and term.name != "all" for term in record.evaluated)
    ):
        _, action, suggestion = _missing(sender, provider, domain, nxdomain=False)
        return outcome(
            Verdict.FAIL,
            f"{domain}'s SPF record authorizes no server at all, so every message this "
            "mailbox sends fails SPF.",
            action,
            suggestion,
        )

    warning = _warning(domain, record, walk)
    if warning is not None:
        explanation, action, suggestion = warning
        return outcome(Verdict.WARNING, explanation, action, corrected if suggestion else "")
    who = (
        f"{PROVIDER_SERVERS[provider]} (include:{include})"
        if include is not None
        else "the servers it lists"
    )
    ending = ALL_MEANING.get(walk.final_all.qualifier, "") if walk.final_all else ""
    return outcome(
        Verdict.PASS,
        f"{domain}'s SPF record authorizes {who} and {ending}, using {walk.count} of the 10 "
        "DNS lookups allowed.",
    )


def _warning(domain: str, record: SpfRecord, walk: _Walk) -> tuple[str, str, bool] | None:
    """(explanation, action, whether the corrected record helps), or None."""
    ignored = [term for term in record.terms if term.is_modifier and term.name == "include"]
    if ignored:
        term = ignored[0]
        return (
            f"{domain}'s SPF record has {quoted(term.text)}, which receivers ignore (include "
            f"takes a colon), so the servers of {term.value} are not authorized.",
            f"Write include:{term.value} instead of {term.text}.",
            True,
        )
    if walk.final_all is None:
        if record.redirect is None:
            return (
                f"{domain}'s SPF record has no all term at the end, so it says nothing about "
                "servers it does not list and spoofed mail is not flagged.",
                "End the record with ~all.",
                True,
            )
        # A redirect= to a record without all: the same, one step away.
        return (
            f"The SPF record that {domain} redirects to has no all term, so it says "
            "nothing about servers it does not list and spoofed mail is not flagged.",
            "End the redirected record with ~all, or replace the redirect with includes.",
            False,
        )
    if walk.final_all.qualifier == "?":
        return (
            f"{domain}'s SPF record ends in ?all (neutral), so it says nothing about servers "
            "it does not list and spoofed mail is not flagged.",
            "Replace ?all with ~all (or -all once every service that sends for you is listed).",
            True,
        )
    if record.after_all:
        names = " ".join(term.text for term in record.after_all)
        return (
            f"{domain}'s SPF record has terms after all ({names}), which receivers never "
            "read, so those servers are not authorized.",
            "Move them before the all term.",
            True,
        )
    if walk.uses_ptr:
        return (
            f"{domain}'s SPF record uses ptr, which RFC 7208 deprecates as slow and "
            "unreliable, so some receivers ignore it.",
            "Replace ptr with ip4:, ip6: or a: terms for the servers it was meant to cover.",
            False,
        )
    return None


def suggest(tokens: list[str], provider: str) -> str:
    """One SPF record from these terms: the provider's include added, all made ~all or -all.

    Reads the terms leniently (the records it merges may be invalid): each token as written,
    duplicates once, include=x as include:x, the provider's include without a -, ~ or ?
    qualifier, all moved to the end, redirect= dropped when an all term ends the record (it
    would be ignored).
    """
    include = PROVIDER_INCLUDE.get(provider)
    mechanisms: list[str] = []
    modifiers: list[str] = []
    qualifiers: list[str] = []
    for token in tokens:
        if ALL_TERM.fullmatch(token):
            qualifiers.append(token[0] if token[0] in "+-~?" else "+")
            continue
        if token.lower().startswith("include="):
            token = f"include:{token[len('include=') :]}"
        if include and token[0] in "-~?" and _same_term(token[1:]) == f"include:{include}":
            token = token[1:]  # "-include:" of the provider's servers would not authorize them
        bucket = modifiers if MODIFIER_TOKEN.match(token) else mechanisms
        if _same_term(token) not in {_same_term(known) for known in bucket}:
            bucket.append(token)
    if include is not None and f"include:{include}" not in {_same_term(t) for t in mechanisms}:
        mechanisms.append(f"include:{include}")
    redirect = [token for token in modifiers if token.lower().startswith("redirect=")]
    ending = []
    if qualifiers or not redirect:
        modifiers = [token for token in modifiers if token not in redirect]
        if "-" in qualifiers:
            ending = ["-all"]
        elif "~" in qualifiers:
            ending = ["~all"]
        else:
            ending = [PROVIDER_ALL.get(provider, "~all")]
    return " ".join(["v=spf1", *mechanisms, *ending, *modifiers])


def _same_term(token: str) -> str:
    """mx, +mx and MX are one term; so are include:acme.com and include:acme.com."""
    return token.lower().removeprefix("+").rstrip(".")


def _missing(sender: Sender, provider: str, domain: str, nxdomain: bool) -> tuple[str, str, str]:
    """(explanation, action, record) when the domain has no SPF record."""
    what = "does not exist in DNS, so it has no SPF record" if nxdomain else "has no SPF record"
    explanation = (
        f"{domain} {what} (SPF lists the servers allowed to send its mail), so receivers "
        "cannot tell your mail from spoofed mail and often send it to spam or reject it."
    )
    if provider in PROVIDER_INCLUDE:
        record = f"v=spf1 include:{PROVIDER_INCLUDE[provider]} {PROVIDER_ALL[provider]}"
        action = f"Add this TXT record at {domain}, which authorizes {PROVIDER_SERVERS[provider]}."
        return explanation, action, txt_record(domain, record)
    terms = ["mx"]
    host = sender.smtp_host.strip().strip("[]").rstrip(".")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        if host:
            terms.append(f"a:{host}")
    else:
        # A private address is not the one receivers see: nothing to authorize there.
        host = host if is_routed(address) else ""
        if host:
            terms.append(f"ip{address.version}:{address}")
    action = (
        f"Publish one SPF record at {domain} listing the servers that send its mail: this one "
        f"authorizes its MX servers{' and ' + host if host else ''}; your mail provider's "
        "documentation gives the exact include: to use."
    )
    return explanation, action, txt_record(domain, " ".join(["v=spf1", *terms, "~all"]))
