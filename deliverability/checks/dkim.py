"""DKIM (RFC 6376): is a public key published for the selectors the sender signs with?

The selector is not in DNS: it is in each signed message (s= of DKIM-Signature). The
provider's usual selectors are tried (Google Workspace: google; Microsoft 365: selector1 and
selector2, CNAMEs to keys Microsoft hosts), then the ones an admin entered.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_der_public_key

from deliverability.checks.dmarc import parse_tags
from deliverability.checks.resolver import Lookup, Lookups, parallel, unchecked_sentence
from deliverability.checks.results import (
    Check,
    CheckResult,
    Sender,
    Verdict,
    fqdn,
    menu,
    result,
)

PROVIDER_SELECTORS = {"gmail": ("google",), "microsoft": ("selector1", "selector2")}
LABEL = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
SELECTOR = re.compile(rf"{LABEL}(?:\.{LABEL})*")
# Microsoft 365's CNAME targets: selector1-acme-com._domainkey.<tenant>.onmicrosoft.com.
MICROSOFT_TARGET = re.compile(r"selector[12]-[a-z0-9-]+\._domainkey\.(?P<tenant>.+)", re.IGNORECASE)
# RFC 8301: verifiers ignore RSA keys under 1024 bits; signers should use 2048.
MIN_RSA_BITS = 1024
GOOD_RSA_BITS = 2048

GOOGLE_STEPS = menu(
    "Google Admin console", "Apps", "Google Workspace", "Gmail", "Authenticate email"
)
MICROSOFT_STEPS = menu("Microsoft Defender portal", "Email authentication", "DKIM")


@dataclass(frozen=True, slots=True)
class _Probe:
    selector: str
    name: str
    txt: Lookup | None  # None: the selector is not a valid DNS label
    cname: str = ""  # where the name points, if it is a CNAME

    @property
    def empty(self) -> bool:
        """Nothing at all at the name: no TXT record, no CNAME."""
        return (
            self.txt is not None and not self.txt.failed and not self.txt.texts() and not self.cname
        )


def selectors_for(sender: Sender, domain: str) -> list[str]:
    """The provider's usual selectors then the admin's, each once, in that order."""
    suffix = f"._domainkey.{domain}"
    chosen: list[str] = list(PROVIDER_SELECTORS.get(sender.provider, ()))
    for entered in sender.dkim_selectors:
        selector = entered.strip().rstrip(".").lower()
        # An admin may paste the whole record name.
        selector = selector.removesuffix(suffix).removesuffix("._domainkey")
        if selector and selector not in chosen:
            chosen.append(selector)
    return chosen


def check_dkim(lookups: Lookups, sender: Sender, domain: str) -> list[CheckResult]:
    selectors = selectors_for(sender, domain)
    if not selectors:
        return [
            result(
                Check.DKIM,
                f"_domainkey.{domain}",
                Verdict.WARNING,
                "Could not check DKIM: the selector is unknown; enter the selector shown as s= "
                "in the DKIM-Signature header of a sent message.",
                action="Open a message sent from this mailbox, find the DKIM-Signature header "
                "and enter its s= value as the DKIM selector.",
            )
        ]
    probes = parallel(lambda selector: _probe(lookups, selector, domain), selectors)
    tenant = next(
        (
            match.group("tenant").rstrip(".")
            for probe in probes
            if (match := MICROSOFT_TARGET.fullmatch(probe.cname.rstrip(".")))
        ),
        "",
    )
    results = [_judge(probe, sender, domain, tenant) for probe in probes]
    # A provider's selector with nothing behind it is no problem when the domain signs with
    # a selector the admin entered (Google lets admins pick their own prefix).
    provider_selectors = PROVIDER_SELECTORS.get(sender.provider, ())
    signing = [
        probe.selector
        for checked, probe in zip(results, probes, strict=True)
        if probe.selector not in provider_selectors
        and checked.verdict in (Verdict.PASS, Verdict.WARNING)
    ]
    unused = [p for p in probes if p.selector in provider_selectors]
    if signing and all(p.empty for p in unused):
        for index, probe in enumerate(probes):
            if probe.selector in provider_selectors:
                results[index] = result(
                    Check.DKIM,
                    probe.name,
                    Verdict.PASS,
                    f"Nothing is published at {probe.name}, which is fine: the domain signs "
                    f"with the selector {signing[0]}, whose key is published.",
                )
    return results


def _probe(lookups: Lookups, selector: str, domain: str) -> _Probe:
    name = f"{selector}._domainkey.{domain}"
    if SELECTOR.fullmatch(selector) is None:
        return _Probe(selector, name, None)
    txt = lookups.query(name, "TXT")
    cname = ""
    if not txt.failed and (not txt.texts() or selector in ("selector1", "selector2")):
        pointer = lookups.query(name, "CNAME")
        if pointer.records:
            cname = pointer.records[0].target.to_text(omit_final_dot=True)
    return _Probe(selector, name, txt, cname)


def _judge(probe: _Probe, sender: Sender, domain: str, tenant: str) -> CheckResult:
    name = probe.name
    if probe.txt is None:
        return result(
            Check.DKIM,
            name,
            Verdict.UNCHECKED,
            f"Could not be checked: {probe.selector!r} is not a valid DKIM selector.",
            action="Enter the selector exactly as shown in s= of a sent message's "
            "DKIM-Signature header.",
        )
    if probe.txt.failed:
        return result(Check.DKIM, name, Verdict.UNCHECKED, unchecked_sentence(probe.txt.error))
    texts = probe.txt.texts()
    keys = [text for text in texts if "p" in parse_tags(text) or _is_dkim_version(text)]
    found = "\n".join(texts) or (f"CNAME {probe.cname}" if probe.cname else "")

    def outcome(verdict: str, explanation: str, action: str = "", record: str = "") -> CheckResult:
        return result(Check.DKIM, name, verdict, explanation, action, record, found)

    if not keys:
        where = f"{name} has"
        if probe.cname:
            where = f"{name} points (CNAME) to {probe.cname}, which has"
        what = "records that are not DKIM keys" if texts else "no DKIM key"
        return outcome(
            Verdict.FAIL,
            f"{where} {what}, so receivers cannot verify the DKIM signature of mail signed "
            f"with the selector {probe.selector} and treat it as unsigned.",
            _enable_action(probe, sender, domain),
            _suggestion(probe, sender, domain, tenant),
        )
    if len(keys) > 1:
        return outcome(
            Verdict.FAIL,
            f"{name} has {len(keys)} DKIM key records, so receivers may pick either and "
            "signature checks fail unpredictably.",
            "Keep only the key your mail provider currently signs with.",
        )
    return outcome(*_judge_key(probe, sender, keys[0]))


def _judge_key(probe: _Probe, sender: Sender, text: str) -> tuple[str, str, str]:
    """(verdict, explanation, action) for one key record."""
    name = probe.name
    tags = parse_tags(text)
    regenerate = _regenerate_action(probe, sender)
    repeated = _repeated_tag(text)
    if repeated:
        return (
            Verdict.FAIL,
            f"The DKIM key record at {name} repeats the tag {repeated}=, which makes the record "
            "invalid (RFC 6376), so receivers cannot verify your signatures.",
            f"Keep one {repeated}= in the record, as your mail provider gives it.",
        )
    if "v" in tags and tags["v"] != "DKIM1":
        return (
            Verdict.FAIL,
            f"{name} starts with v={tags['v']} instead of v=DKIM1, so receivers ignore the key.",
            "Publish the record exactly as your mail provider gives it.",
        )
    if "p" not in tags:
        return (
            Verdict.FAIL,
            f"{name} has no p= public key, so receivers cannot verify your signatures.",
            "Publish the record exactly as your mail provider gives it.",
        )
    encoded = re.sub(r"\s+", "", tags["p"])
    if not encoded:
        return (
            Verdict.FAIL,
            f"The DKIM key at {name} is revoked (empty p=), so every signature made with the "
            f"selector {probe.selector} fails.",
            regenerate,
        )
    hashes = [h.strip().lower() for h in tags.get("h", "").split(":") if h.strip()]
    if hashes and "sha256" not in hashes:
        return (
            Verdict.FAIL,
            f"The DKIM key at {name} allows only {', '.join(hashes)} signatures, which "
            "receivers no longer accept (RFC 8301 requires sha256).",
            "Remove h= from the record or set h=sha256.",
        )
    services = [service.strip().lower() for service in tags.get("s", "*").split(":")]
    if not {"email", "*"} & set(services):
        return (
            Verdict.FAIL,
            f"The DKIM key at {name} is limited to the service type s={tags['s']}, which does "
            "not include email, so receivers may not use it to verify your mail.",
            "Remove s= from the record or set s=email.",
        )
    kind = tags.get("k", "rsa").lower()
    try:
        der = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        der = b""
    if kind == "ed25519":
        if len(der) != 32:
            return (Verdict.FAIL, f"The Ed25519 key at {name} is not valid.", regenerate)
        described = "an Ed25519 key"
    elif kind == "rsa":
        try:
            key = load_der_public_key(der)
        except (ValueError, UnsupportedAlgorithm):
            key = None
        if not isinstance(key, RSAPublicKey):
            return (
                Verdict.FAIL,
                f"The DKIM key at {name} is not a readable RSA public key (the p= value is "
                "damaged, often cut when pasted), so every signature fails.",
                "Publish the record again, copied in full from your mail provider.",
            )
        bits = key.key_size
        if bits < MIN_RSA_BITS:
            return (
                Verdict.FAIL,
                f"The DKIM key at {name} is a {bits}-bit RSA key, which receivers reject as "
                "too short (RFC 8301: 1024 bits at least), so your mail counts as unsigned.",
                regenerate,
            )
        if bits < GOOD_RSA_BITS:
            return (
                Verdict.WARNING,
                f"The DKIM key at {name} is a {bits}-bit RSA key, weaker than the 2048 bits "
                "receivers expect today.",
                regenerate,
            )
        described = f"a {bits}-bit RSA key"
    else:
        return (
            Verdict.FAIL,
            f"The DKIM key at {name} has the key type k={kind}, which receivers do not know.",
            regenerate,
        )
    flags = [flag.strip().lower() for flag in tags.get("t", "").split(":")]
    if "y" in flags:
        return (
            Verdict.WARNING,
            f"{name} publishes {described} in test mode (t=y), so receivers may ignore "
            "your DKIM signatures.",
            "Remove t=y from the record once signing works.",
        )
    return (
        Verdict.PASS,
        f"{name} publishes {described}, so receivers can verify your mail's DKIM signatures.",
        "",
    )


def _repeated_tag(text: str) -> str:
    """The first tag the record has twice (tag names are case-sensitive, RFC 6376 3.2)."""
    seen: set[str] = set()
    for part in text.split(";"):
        name, equals, _ = part.partition("=")
        name = name.strip()
        if not equals or not name:
            continue
        if name in seen:
            return name
        seen.add(name)
    return ""


def _is_dkim_version(text: str) -> bool:
    return text.strip().lower().startswith("v=dkim1")


def _enable_action(probe: _Probe, sender: Sender, domain: str) -> str:
    if sender.provider == "gmail":
        return (
            f"Turn DKIM on in the {GOOGLE_STEPS}: generate a 2048-bit key, publish the TXT "
            f"record it shows at {probe.name}, then click Start authentication."
        )
    if sender.provider == "microsoft" and probe.selector in PROVIDER_SELECTORS["microsoft"]:
        dashed = domain.replace(".", "-")
        if probe.cname:
            return (
                f"Turn DKIM on for {domain} in the {MICROSOFT_STEPS}: Microsoft then "
                f"publishes the key at {probe.cname}."
            )
        return (
            f"Turn DKIM on for {domain} in the {MICROSOFT_STEPS} and publish the two CNAME "
            f"records it shows (to selector1-{dashed}._domainkey.<tenant>.onmicrosoft.com and "
            "selector2-…), which Microsoft then fills with keys."
        )
    return (
        f"Turn DKIM signing on at your mail provider and publish the public key it gives you "
        f"as a TXT record at {probe.name}."
    )


def _regenerate_action(probe: _Probe, sender: Sender) -> str:
    if sender.provider == "gmail":
        return (
            f"Generate a new 2048-bit key in the {GOOGLE_STEPS}, publish it, then click "
            "Start authentication."
        )
    if sender.provider == "microsoft" and probe.selector in PROVIDER_SELECTORS["microsoft"]:
        return f"Rotate the DKIM keys to 2048 bits in the {MICROSOFT_STEPS}."
    return f"Have your mail provider generate a new 2048-bit key and publish it at {probe.name}."


def _suggestion(probe: _Probe, sender: Sender, domain: str, tenant: str) -> str:
    """The Microsoft CNAME to add, when the tenant is known from the other selector."""
    if (
        sender.provider != "microsoft"
        or probe.selector not in PROVIDER_SELECTORS["microsoft"]
        or probe.cname
        or not tenant
    ):
        return ""
    target = f"{probe.selector}-{domain.replace('.', '-')}._domainkey.{tenant}"
    return f"{fqdn(probe.name)} CNAME {fqdn(target)}"
