"""The deliverability checks against the fixture zones of sandboxes/dns_zones, served by the DNS
sandbox on loopback (the `dns_settings` fixture): no lookup leaves the machine."""

from __future__ import annotations

import base64
import time
import unicodedata
from collections import Counter

import dns.flags
import dns.message
import dns.query
import dns.resolver
import pytest
from cryptography.hazmat.primitives.serialization import load_der_public_key
from django.core.exceptions import ImproperlyConfigured

from deliverability.checks import (
    AUTH_CHECKS,
    Check,
    CheckResult,
    Sender,
    Verdict,
    check_blocklist,
    check_dns_auth,
    make_resolver,
)
from deliverability.checks import sender as checks_module
from deliverability.checks.dmarc import parse_tags

pytestmark = pytest.mark.usefixtures("dns_settings")

PASS, WARNING, FAIL, UNCHECKED = Verdict.PASS, Verdict.WARNING, Verdict.FAIL, Verdict.UNCHECKED
# Menu paths are written with a right angle quote between steps.
GOOGLE_ADMIN = (
    "Google Admin console \u203a Apps \u203a Google Workspace \u203a Gmail \u203a "
    "Authenticate email"
)
DEFENDER = "Microsoft Defender portal \u203a Email authentication \u203a DKIM"
TIMEOUT = "Could not be checked: DNS timeout (no answer within 0.5 s)."
REFUSED = "Could not be checked: the DNS servers refused or failed to answer."


def only(results: list[CheckResult], check: str) -> CheckResult:
    [found] = [checked for checked in results if checked.check == check]
    return found


def of(results: list[CheckResult], subject: str) -> CheckResult:
    [found] = [checked for checked in results if checked.subject == subject]
    return found


def auth(domain: str, provider: str = "gmail", *selectors: str, host: str = "") -> list:
    return check_dns_auth(Sender(domain, provider, host, tuple(selectors)))


# domain, provider, selectors -> MX, SPF, DKIM (one per selector tried), DMARC
AUTH_TABLE = [
    ("good.test", "gmail", (), PASS, PASS, [PASS], PASS),
    ("mail.good.test", "gmail", (), PASS, PASS, [PASS], PASS),
    ("msft.test", "microsoft", (), PASS, PASS, [PASS, PASS], PASS),
    ("msftoff.test", "microsoft", (), FAIL, PASS, [FAIL, FAIL], WARNING),
    ("redirect.test", "gmail", (), PASS, PASS, [PASS], PASS),
    ("custom.test", "gmail", ("s1",), PASS, PASS, [PASS, PASS], PASS),
    ("nospf.test", "gmail", (), PASS, FAIL, [PASS], PASS),
    ("twospf.test", "gmail", (), PASS, FAIL, [PASS], PASS),
    ("badsyntax.test", "gmail", (), PASS, FAIL, [PASS], PASS),
    ("noinclude.test", "gmail", (), PASS, FAIL, [PASS], PASS),
    ("dmarcnone.test", "gmail", (), PASS, PASS, [PASS], WARNING),
    ("nodmarc.test", "gmail", (), PASS, PASS, [PASS], FAIL),
    ("twodmarc.test", "gmail", (), PASS, PASS, [PASS], FAIL),
    ("nopolicy.test", "gmail", (), PASS, PASS, [PASS], FAIL),
    ("halfmx.test", "gmail", (), WARNING, PASS, [PASS], PASS),
    ("nodkim.test", "gmail", (), PASS, PASS, [FAIL], PASS),
    ("revoked.test", "gmail", (), PASS, PASS, [FAIL], PASS),
    ("weakkey.test", "gmail", (), PASS, PASS, [WARNING], PASS),
    ("tinykey.test", "gmail", (), PASS, PASS, [FAIL], PASS),
    ("badkey.test", "gmail", (), PASS, PASS, [FAIL], PASS),
    ("listed.test", "smtp", (), PASS, PASS, [WARNING], WARNING),
    ("nullmx.test", "smtp", (), FAIL, FAIL, [WARNING], PASS),
    ("deadmx.test", "smtp", (), FAIL, PASS, [WARNING], PASS),
    ("plusall.test", "smtp", (), PASS, FAIL, [WARNING], PASS),
    ("neutral.test", "smtp", (), PASS, WARNING, [WARNING], PASS),
    ("noall.test", "smtp", (), PASS, WARNING, [WARNING], PASS),
    ("ptr.test", "smtp", (), PASS, WARNING, [WARNING], PASS),
    ("toomany.test", "smtp", (), PASS, FAIL, [WARNING], PASS),
    ("loop.test", "smtp", (), PASS, FAIL, [WARNING], PASS),
    ("brokeninclude.test", "smtp", (), PASS, FAIL, [WARNING], PASS),
    ("slow.test", "gmail", (), UNCHECKED, UNCHECKED, [UNCHECKED], UNCHECKED),
    # Outside every loaded zone: the sandbox answers REFUSED.
    ("nowhere.example", "gmail", (), UNCHECKED, UNCHECKED, [UNCHECKED], UNCHECKED),
]


@pytest.mark.parametrize(
    ("domain", "provider", "selectors", "mx", "spf", "dkim", "dmarc"),
    AUTH_TABLE,
    ids=[row[0] for row in AUTH_TABLE],
)
def test_it_gives_each_fixture_domain_its_expected_verdicts(
    domain, provider, selectors, mx, spf, dkim, dmarc
):
    results = auth(domain, provider, *selectors)
    assert [(r.check, r.verdict) for r in results] == [
        (Check.MX, mx),
        (Check.SPF, spf),
        *[(Check.DKIM, verdict) for verdict in dkim],
        (Check.DMARC, dmarc),
    ]
    # Subjects are the names looked up, unique per check; one sentence each.
    assert only(results, Check.MX).subject == domain
    assert only(results, Check.SPF).subject == domain
    assert only(results, Check.DMARC).subject == f"_dmarc.{domain}"
    assert all(
        Counter((r.check, r.subject) for r in results)[(r.check, r.subject)] == 1 for r in results
    )
    for checked in results:
        assert checked.explanation.endswith(".")
        assert checked.verdict in Verdict.values
        assert checked.check in AUTH_CHECKS
        if checked.verdict == PASS:
            assert checked.action == ""
            assert checked.record == ""


# ---------------------------------------------------------------------------- all pass


def test_it_says_what_it_found_for_a_good_google_workspace_domain():
    results = auth("good.test")
    mx, spf, dkim, dmarc = results
    assert mx.explanation == "good.test receives mail at smtp.google.com."
    assert mx.found == "1 smtp.google.com."
    assert "Google's servers (include:_spf.google.com)" in spf.explanation
    assert "suspicious" in spf.explanation  # ~all
    assert "4 of the 10 DNS lookups" in spf.explanation
    # The unrelated google-site-verification TXT record is not SPF.
    assert spf.found == "v=spf1 include:_spf.google.com ~all"
    assert dkim.subject == "google._domainkey.good.test"
    assert "2048-bit RSA key" in dkim.explanation
    assert dkim.found.startswith("v=DKIM1; k=rsa; p=MIIB")
    assert dmarc.explanation == (
        "good.test's DMARC policy is p=reject: mail that fails authentication is refused."
    )


def test_it_gives_a_subdomain_the_organizational_domains_dmarc_policy():
    dmarc = only(auth("mail.good.test"), Check.DMARC)
    assert dmarc.subject == "_dmarc.mail.good.test"
    assert dmarc.verdict == PASS
    # sp= is the policy for subdomains, when the organizational domain's record sets it.
    assert "(inherited from good.test) is sp=quarantine" in dmarc.explanation
    assert "p=reject" in dmarc.found


def test_it_follows_microsoft_365_dkim_cnames_into_the_tenant():
    results = auth("msft.test", "microsoft")
    dkim = [r for r in results if r.check == Check.DKIM]
    assert [r.subject for r in dkim] == [
        "selector1._domainkey.msft.test",
        "selector2._domainkey.msft.test",
    ]
    assert all("2048-bit RSA key" in r.explanation for r in dkim)
    assert dkim[0].found != dkim[1].found
    assert "Microsoft 365's servers (include:spf.protection.outlook.com)" in (
        only(results, Check.SPF).explanation
    )
    assert "reject mail from any other server" in only(results, Check.SPF).explanation
    assert "p=quarantine" in only(results, Check.DMARC).explanation


def test_it_follows_an_spf_redirect_to_googles_include_and_counts_it():
    spf = only(auth("redirect.test"), Check.SPF)
    assert spf.verdict == PASS
    assert "5 of the 10 DNS lookups" in spf.explanation


# ---------------------------------------------------------------------------- MX


def test_it_suggests_microsofts_mx_record_when_there_is_no_mx():
    mx = only(auth("msftoff.test", "microsoft"), Check.MX)
    assert mx.verdict == FAIL
    assert "has no MX record" in mx.explanation
    assert "replies and bounces are lost" in mx.explanation
    assert mx.record == "msftoff.test. MX 0 msftoff-test.mail.protection.outlook.com."
    assert "Microsoft 365 admin center \u203a Settings \u203a Domains" in mx.action


def test_it_suggests_googles_mx_record_when_there_is_no_mx():
    # msftoff.test has no MX: as a Google Workspace domain it would need Google's.
    mx = only(auth("msftoff.test", "gmail"), Check.MX)
    assert mx.record == "msftoff.test. MX 1 smtp.google.com."
    assert "Google Workspace's MX record" in mx.action


def test_it_fails_a_null_mx():
    mx = only(auth("nullmx.test", "smtp"), Check.MX)
    assert "null MX" in mx.explanation
    assert "accepts no mail" in mx.explanation
    assert mx.action.startswith("Replace the null MX")
    assert mx.found == "0 ."


def test_it_fails_when_no_mx_host_has_an_address():
    mx = only(auth("deadmx.test", "smtp"), Check.MX)
    assert "mx.deadmx.test and gone.deadmx.test" in mx.explanation
    assert "has an IP address" in mx.explanation
    assert "missing address records" in mx.action


def test_it_warns_when_one_mx_host_has_no_address():
    mx = only(auth("halfmx.test"), Check.MX)
    assert "can reach smtp.google.com" in mx.explanation
    assert "old-mx.halfmx.test has no IP address" in mx.explanation
    assert "Remove the MX record for old-mx.halfmx.test" in mx.action


def test_it_fails_a_domain_that_does_not_exist():
    # good.test's zone holds no such name: NXDOMAIN.
    results = auth("typo.good.test")
    assert only(results, Check.MX).verdict == FAIL
    assert "does not exist in DNS" in only(results, Check.MX).explanation
    assert "does not exist in DNS" in only(results, Check.SPF).explanation


# ---------------------------------------------------------------------------- SPF


@pytest.mark.parametrize(
    ("provider", "host", "record"),
    [
        ("gmail", "", 'nospf.test. TXT "v=spf1 include:_spf.google.com ~all"'),
        ("microsoft", "", 'nospf.test. TXT "v=spf1 include:spf.protection.outlook.com -all"'),
        ("smtp", "192.0.2.25", 'nospf.test. TXT "v=spf1 mx ip4:192.0.2.25 ~all"'),
        ("smtp", "smtp.nospf.test", 'nospf.test. TXT "v=spf1 mx a:smtp.nospf.test ~all"'),
        ("smtp", "[2001:db8::25]", 'nospf.test. TXT "v=spf1 mx ip6:2001:db8::25 ~all"'),
        # Not the address receivers see: not worth authorizing.
        ("smtp", "127.0.0.1", 'nospf.test. TXT "v=spf1 mx ~all"'),
    ],
)
def test_it_suggests_the_providers_spf_record_when_there_is_none(provider, host, record):
    spf = only(auth("nospf.test", provider, host=host), Check.SPF)
    assert spf.verdict == FAIL
    assert "has no SPF record" in spf.explanation
    assert spf.record == record
    # "v=spf10 …" at the domain is not an SPF record.
    assert spf.found == ""


def test_it_fails_two_spf_records_and_suggests_one_merged_record():
    spf = only(auth("twospf.test"), Check.SPF)
    assert "2 SPF records" in spf.explanation
    assert "permanent error" in spf.explanation
    assert spf.action.startswith("Merge them into one record")
    assert spf.record == (
        'twospf.test. TXT "v=spf1 include:_spf.google.com include:mailgun.org -all"'
    )
    assert sorted(spf.found.split("\n")) == [
        "v=spf1 include:_spf.google.com ~all",
        "v=spf1 include:mailgun.org -all",
    ]


def test_it_names_the_invalid_spf_term():
    spf = only(auth("badsyntax.test"), Check.SPF)
    assert "invalid term 'ip4:192.0.2.300' (not a valid IPv4 address)" in spf.explanation
    assert "'ip4:192.0.2.300'" in spf.action


def test_it_fails_a_missing_provider_include_and_gives_the_fixed_record():
    spf = only(auth("noinclude.test"), Check.SPF)
    assert spf.explanation == (
        "noinclude.test's SPF record does not authorize Google's servers "
        "(include:_spf.google.com), so receivers see your mail as unauthenticated."
    )
    assert spf.action == "Add include:_spf.google.com to the SPF record."
    assert spf.record == (
        'noinclude.test. TXT "v=spf1 include:spf.protection.outlook.com '
        'include:_spf.google.com ~all"'
    )


@pytest.mark.parametrize(
    ("domain", "words", "action", "record"),
    [
        (
            "qualinclude.test",
            "qualinclude.test's SPF record has -include:_spf.google.com, whose - qualifier "
            "gives the servers it lists an SPF fail, so it does not authorize Google's servers",
            "Write include:_spf.google.com instead of -include:_spf.google.com in the SPF "
            "record of qualinclude.test.",
            'qualinclude.test. TXT "v=spf1 include:_spf.google.com ~all"',
        ),
        (
            # One include away: ?include:_spf.qualinclude.test holds Google's include.
            "soft.qualinclude.test",
            "soft.qualinclude.test's SPF record has ?include:_spf.qualinclude.test, whose ? "
            "qualifier gives the servers it lists an SPF neutral, so it does not authorize "
            "Google's servers",
            "Write include:_spf.qualinclude.test instead of ?include:_spf.qualinclude.test in "
            "the SPF record of soft.qualinclude.test.",
            "",
        ),
    ],
)
def test_it_does_not_accept_a_qualified_provider_include(domain, words, action, record):
    spf = only(auth(domain), Check.SPF)
    assert spf.verdict == FAIL
    assert spf.explanation.startswith(words)
    assert spf.explanation.endswith("receivers see your mail as unauthenticated.")
    assert spf.action == action
    assert spf.record == record


def test_it_passes_the_same_spf_record_for_a_microsoft_domain():
    assert only(auth("noinclude.test", "microsoft"), Check.SPF).verdict == PASS


def test_it_fails_plus_all():
    spf = only(auth("plusall.test", "smtp"), Check.SPF)
    assert "+all" in spf.explanation
    assert "every server on the internet" in spf.explanation
    assert spf.record == 'plusall.test. TXT "v=spf1 mx ~all"'


@pytest.mark.parametrize(
    ("domain", "words", "record"),
    [
        ("neutral.test", "ends in ?all (neutral)", 'neutral.test. TXT "v=spf1 mx ~all"'),
        ("noall.test", "has no all term", 'noall.test. TXT "v=spf1 mx ~all"'),
        ("ptr.test", "uses ptr, which RFC 7208 deprecates", ""),
    ],
)
def test_it_warns_on_a_neutral_or_missing_all_or_a_ptr(domain, words, record):
    spf = only(auth(domain, "smtp"), Check.SPF)
    assert spf.verdict == WARNING
    assert words in spf.explanation
    assert spf.record == record


def test_it_fails_spf_that_needs_more_than_10_lookups():
    spf = only(auth("toomany.test", "smtp"), Check.SPF)
    assert "needs 12 DNS lookups" in spf.explanation
    assert "10 are allowed" in spf.explanation
    assert "ip4:" in spf.action


def test_it_fails_an_spf_include_loop():
    spf = only(auth("loop.test", "smtp"), Check.SPF)
    assert "loops (loop.test > _spf.loop.test > loop.test)" in spf.explanation


def test_it_fails_an_include_that_has_no_spf_record():
    spf = only(auth("brokeninclude.test", "smtp"), Check.SPF)
    assert "includes _spf.brokeninclude.test, which has no SPF record" in spf.explanation


def test_it_fails_spf_authorizing_no_server_for_a_sending_mailbox():
    spf = only(auth("nullmx.test", "smtp", host="192.0.2.60"), Check.SPF)
    assert "authorizes no server at all" in spf.explanation
    assert spf.record == 'nullmx.test. TXT "v=spf1 mx ip4:192.0.2.60 ~all"'


# ---------------------------------------------------------------------------- DKIM


def test_it_says_where_to_turn_on_a_missing_dkim_key():
    [dkim] = [r for r in auth("nodkim.test") if r.check == Check.DKIM]
    assert dkim.subject == "google._domainkey.nodkim.test"
    assert "has no DKIM key" in dkim.explanation
    assert GOOGLE_ADMIN in dkim.action
    assert dkim.record == ""


def test_it_says_how_to_turn_on_microsoft_365_dkim():
    results = auth("msftoff.test", "microsoft")
    first = of(results, "selector1._domainkey.msftoff.test")
    assert "points (CNAME) to selector1-msftoff-test._domainkey.msfttest.onmicrosoft.com" in (
        first.explanation
    )
    assert DEFENDER in first.action
    assert first.found == "CNAME selector1-msftoff-test._domainkey.msfttest.onmicrosoft.com"
    second = of(results, "selector2._domainkey.msftoff.test")
    assert "has no DKIM key" in second.explanation
    assert DEFENDER in second.action
    # The tenant is known from selector1's CNAME: the missing CNAME can be given in full.
    assert second.record == (
        "selector2._domainkey.msftoff.test. CNAME "
        "selector2-msftoff-test._domainkey.msfttest.onmicrosoft.com."
    )


@pytest.mark.parametrize(
    ("domain", "words"),
    [
        ("revoked.test", "is revoked (empty p=)"),
        ("weakkey.test", "is a 1024-bit RSA key, weaker than the 2048 bits"),
        ("tinykey.test", "is a 512-bit RSA key, which receivers reject as too short"),
        ("badkey.test", "is not a readable RSA public key"),
    ],
)
def test_it_explains_each_dkim_key_problem(domain, words):
    [dkim] = [r for r in auth(domain) if r.check == Check.DKIM]
    assert words in dkim.explanation
    assert dkim.action


def test_it_accepts_a_missing_default_selector_when_a_custom_one_signs():
    results = auth("custom.test", "gmail", "s1")
    assert "signs with the selector s1" in of(results, "google._domainkey.custom.test").explanation
    assert "2048-bit RSA key" in of(results, "s1._domainkey.custom.test").explanation


def test_it_fails_a_custom_selector_that_has_no_key():
    results = auth("good.test", "gmail", "s9")
    assert of(results, "google._domainkey.good.test").verdict == PASS
    missing = of(results, "s9._domainkey.good.test")
    assert missing.verdict == FAIL
    assert "has no DKIM key" in missing.explanation


def test_it_tries_each_selector_once_in_order():
    results = auth("good.test", "gmail", "GOOGLE", " s1 ", "s1._domainkey.good.test", "")
    assert [r.subject for r in results if r.check == Check.DKIM] == [
        "google._domainkey.good.test",
        "s1._domainkey.good.test",
    ]


def test_it_leaves_an_invalid_selector_unchecked():
    result = of(auth("good.test", "smtp", "bad selector"), "bad selector._domainkey.good.test")
    assert result.verdict == UNCHECKED
    assert "not a valid DKIM selector" in result.explanation


def test_it_warns_once_when_the_selector_is_unknown():
    [dkim] = [r for r in auth("plusall.test", "smtp") if r.check == Check.DKIM]
    assert dkim.subject == "_domainkey.plusall.test"
    assert dkim.verdict == WARNING
    assert dkim.explanation == (
        "Could not check DKIM: the selector is unknown; enter the selector shown as s= in the "
        "DKIM-Signature header of a sent message."
    )


# ---------------------------------------------------------------------------- DMARC


def test_it_fails_a_missing_dmarc_record_and_suggests_one():
    dmarc = only(auth("nodmarc.test"), Check.DMARC)
    assert "has no DMARC record" in dmarc.explanation
    assert "Google and Yahoo" in dmarc.explanation
    assert "p=quarantine" in dmarc.action
    assert dmarc.record == (
        '_dmarc.nodmarc.test. TXT "v=DMARC1; p=none; rua=mailto:dmarc-reports@nodmarc.test"'
    )


def test_it_warns_on_dmarc_p_none_and_suggests_quarantine():
    dmarc = only(auth("dmarcnone.test"), Check.DMARC)
    assert "p=none, monitoring only: spoofed mail is still delivered" in dmarc.explanation
    assert dmarc.record == (
        '_dmarc.dmarcnone.test. TXT "v=DMARC1; p=quarantine; rua=mailto:dmarc@dmarcnone.test"'
    )


def test_it_warns_on_dmarc_pct_under_100():
    dmarc = only(auth("msftoff.test", "microsoft"), Check.DMARC)
    assert "applies to only 50% of failing mail (pct=50)" in dmarc.explanation
    assert "pct" not in parse_tags(dmarc.record.split(" TXT ")[1].strip('"'))


def test_it_fails_two_dmarc_records():
    dmarc = only(auth("twodmarc.test"), Check.DMARC)
    assert "2 DMARC records" in dmarc.explanation
    assert "apply no policy" in dmarc.explanation


def test_it_fails_a_dmarc_record_without_a_policy():
    dmarc = only(auth("nopolicy.test"), Check.DMARC)
    assert "no p= policy" in dmarc.explanation
    # The TXT record at _dmarc that is not DMARC is not counted or shown.
    assert dmarc.found == "v=DMARC1; rua=mailto:dmarc@nopolicy.test"


def test_it_fixes_an_inherited_invalid_sp_and_keeps_p():
    dmarc = only(auth("mail.badsp.test"), Check.DMARC)
    assert dmarc.verdict == FAIL
    assert "(inherited from badsp.test) has an invalid sp= value 'bogus'" in dmarc.explanation
    assert "sp=" in dmarc.action
    # p=reject is kept; sp= gets the policy subdomains would have without it.
    assert dmarc.record == (
        '_dmarc.badsp.test. TXT "v=DMARC1; p=reject; sp=reject; rua=mailto:dmarc@badsp.test"'
    )


@pytest.mark.parametrize(
    ("domain", "found", "words", "record"),
    [
        (
            "dmarccase.test",
            "v=dmarc1; p=reject; rua=mailto:dmarc@dmarccase.test",
            "starts with 'v=dmarc1' where it must be 'v=DMARC1' (upper case)",
            '_dmarc.dmarccase.test. TXT "v=DMARC1; p=reject; rua=mailto:dmarc@dmarccase.test"',
        ),
        (
            "dmarcsep.test",
            "v=DMARC1 p=reject",
            "has no ';' after v=DMARC1",
            "_dmarc.dmarcsep.test. TXT "
            '"v=DMARC1; p=reject; rua=mailto:dmarc-reports@dmarcsep.test"',
        ),
    ],
)
def test_it_shows_a_malformed_dmarc_record_with_a_corrected_one(domain, found, words, record):
    dmarc = only(auth(domain), Check.DMARC)
    assert dmarc.verdict == FAIL
    assert dmarc.found == found
    assert words in dmarc.explanation
    assert "so receivers do not read it as a DMARC record" in dmarc.explanation
    assert "has no DMARC record" not in dmarc.explanation
    assert dmarc.record == record
    assert dmarc.action


def test_it_shows_a_subdomains_malformed_dmarc_before_the_inherited_one():
    dmarc = only(auth("typo.badsp.test"), Check.DMARC)
    assert dmarc.verdict == FAIL
    assert dmarc.explanation == (
        "The record at _dmarc.typo.badsp.test has no ';' after v=DMARC1, so receivers do not "
        "read it as a DMARC record and fall back to badsp.test's DMARC record."
    )
    assert dmarc.found == "v=DMARC1 p=none"
    assert dmarc.record == (
        '_dmarc.typo.badsp.test. TXT "v=DMARC1; p=none; rua=mailto:dmarc-reports@typo.badsp.test"'
    )


# ---------------------------------------------------------------------------- failures


def test_it_gives_up_quickly_on_dns_servers_that_never_answer():
    started = time.monotonic()
    results = auth("slow.test", "microsoft")
    elapsed = time.monotonic() - started
    assert [r.verdict for r in results] == [UNCHECKED] * 5
    assert all(r.explanation == TIMEOUT for r in results)
    # The lookups run side by side: about one timeout, not one per lookup.
    assert elapsed < 2


def test_it_says_the_servers_refused_a_domain_outside_the_zones():
    results = auth("nowhere.example")
    assert {r.explanation for r in results} == {REFUSED}


def test_it_names_any_other_dns_error():
    results = auth("a" * 64 + ".test")
    assert [r.verdict for r in results] == [UNCHECKED] * 4
    assert all("DNS error LabelTooLong" in r.explanation for r in results)


def test_it_runs_the_other_checks_when_one_check_has_a_bug(monkeypatch, caplog):
    def broken(*args: object) -> None:
        raise KeyError("surprise")

    monkeypatch.setattr(checks_module, "check_mx", broken)
    results = auth("good.test")
    assert [r.verdict for r in results] == [UNCHECKED, PASS, PASS, PASS]
    assert "unexpected error" in results[0].explanation
    assert "The mx check of good.test failed" in caplog.text


def test_it_uses_the_resolver_it_is_given(settings):
    resolver = make_resolver()
    settings.DNS_NAMESERVERS = ["127.0.0.1:9"]  # would fail if read again
    assert only(check_dns_auth(Sender("good.test", "gmail"), resolver), Check.MX).verdict == PASS


def test_it_leaves_all_unchecked_without_a_resolver_configuration(monkeypatch):
    def missing() -> dns.resolver.Resolver:
        raise dns.resolver.NoResolverConfiguration("no nameservers")

    monkeypatch.setattr(checks_module, "make_resolver", missing)
    results = check_dns_auth(Sender("good.test", "gmail"))
    assert [r.verdict for r in results] == [UNCHECKED] * 4
    assert "NoResolverConfiguration" in results[0].explanation
    assert check_blocklist(Sender("good.test", "gmail", "192.0.2.25"))[0].verdict == UNCHECKED


def test_it_escapes_control_characters_in_dns_text():
    # ctrl.test's TXT records hold NUL (which PostgreSQL text refuses), BEL, ESC, CR and the
    # C1 control NEL: shown as escapes wherever DNS text is, tab and newline kept.
    results = auth("ctrl.test")
    for checked in results:
        for text in (checked.subject, checked.explanation, checked.action, checked.record,
                     checked.found):  # fmt: skip
            assert not [c for c in text if unicodedata.category(c) == "Cc" and c not in "\n\t"]
    spf = only(results, Check.SPF)
    assert spf.verdict == FAIL
    assert spf.found == "v=spf1 include:_spf.google.com\\x00 ~all"
    assert "invalid term 'include:_spf.google.com\\x00'" in spf.explanation
    dkim = of(results, "google._domainkey.ctrl.test")
    assert dkim.found == "v=DKIM1; k=rsa\\x07; p=\\x1b[31mAAAA\\x0d\\x85"
    assert "k=rsa\\x07" in dkim.explanation
    dmarc = only(results, Check.DMARC)
    assert dmarc.found == "v=DMARC1; p=reject; rua=mailto:dmarc@ctrl.test\\x00"


# ---------------------------------------------------------------------------- blocklists


def test_it_passes_a_server_and_domain_on_no_blocklist():
    results = check_blocklist(Sender("good.test", "smtp", "smtp.good.test"))
    assert [(r.subject, r.verdict) for r in results] == [
        ("192.0.2.25 on zen.spamhaus.org", PASS),
        ("192.0.2.25 on bl.spamcop.net", PASS),
        ("192.0.2.25 on b.barracudacentral.org", PASS),
        ("good.test on dbl.spamhaus.org", PASS),
    ]
    assert results[0].explanation == "192.0.2.25 is not listed on zen.spamhaus.org."
    assert all(r.check == Check.BLOCKLIST for r in results)


@pytest.mark.parametrize(
    ("provider", "host"),
    [
        ("gmail", "smtp.gmail.com"),
        ("microsoft", "smtp.office365.com"),
        # Even an address that is listed: mail does not leave from it.
        ("gmail", "203.0.113.66"),
        ("microsoft", "mail.listed.test"),
        ("gmail", ""),
    ],
)
def test_it_looks_up_only_the_domain_of_workspace_and_microsoft_mailboxes(provider, host):
    results = check_blocklist(Sender("listed.test", provider, host))
    assert [(r.subject, r.verdict) for r in results] == [("listed.test on dbl.spamhaus.org", FAIL)]


def test_it_explains_the_listings_of_a_listed_server_and_domain():
    results = check_blocklist(Sender("listed.test", "smtp", "mail.listed.test"))
    assert [(r.subject, r.verdict) for r in results] == [
        ("10.20.30.40", UNCHECKED),
        ("203.0.113.66 on zen.spamhaus.org", FAIL),
        ("203.0.113.66 on bl.spamcop.net", FAIL),
        ("203.0.113.66 on b.barracudacentral.org", PASS),
        ("listed.test on dbl.spamhaus.org", FAIL),
    ]
    private, zen, spamcop, _, dbl = results
    assert "private or reserved address" in private.explanation
    assert "public address the server sends from" in private.explanation
    assert "SBL: a spam source Spamhaus listed" in zen.explanation
    assert "XBL: the address runs infected or exploited software" in zen.explanation
    assert "https://check.spamhaus.org/" in zen.action
    assert zen.found.split("\n")[:2] == ["127.0.0.2", "127.0.0.4"]
    assert "sbl/query" in zen.found  # the list's TXT reason
    assert "reported by SpamCop users" in spamcop.explanation
    assert "24 hours" in spamcop.action
    assert "a spam domain" in dbl.explanation
    assert "https://check.spamhaus.org/" in dbl.action


def test_it_looks_up_a_subdomain_and_its_registered_domain():
    results = check_blocklist(Sender("mail.listed.test", "gmail", "smtp.gmail.com"))
    assert [(r.subject, r.verdict) for r in results] == [
        ("mail.listed.test on dbl.spamhaus.org", PASS),
        ("listed.test on dbl.spamhaus.org", FAIL),
    ]


def test_it_explains_an_ip_literal_listed_on_pbl_and_barracuda():
    results = check_blocklist(Sender("good.test", "smtp", "[203.0.113.10]"))
    zen = of(results, "203.0.113.10 on zen.spamhaus.org")
    assert "PBL: an address range that should not send mail directly" in zen.explanation
    barracuda = of(results, "203.0.113.10 on b.barracudacentral.org")
    assert barracuda.verdict == FAIL
    assert "https://www.barracudacentral.org/rbl/removal-request" in barracuda.action


def test_it_leaves_unchecked_a_spamhaus_refusal_of_a_public_resolver():
    zen = of(
        check_blocklist(Sender("good.test", "smtp", "203.0.113.254")),
        "203.0.113.254 on zen.spamhaus.org",
    )
    assert zen.verdict == UNCHECKED
    assert "public or open resolver" in zen.explanation
    assert "DQS" in zen.explanation
    assert zen.found == "127.255.255.254"


def test_it_leaves_unchecked_a_blocklist_answer_outside_127():
    zen = of(
        check_blocklist(Sender("good.test", "smtp", "203.0.113.253")),
        "203.0.113.253 on zen.spamhaus.org",
    )
    assert zen.verdict == UNCHECKED
    assert "answered 198.51.100.1, not a blocklist code" in zen.explanation
    assert "rewrite NXDOMAIN" in zen.explanation


@pytest.mark.parametrize(
    ("domain", "verdict", "words"),
    [
        ("abused.test", FAIL, "a legitimate domain Spamhaus lists because it is abused in spam"),
        ("ipquery.test", UNCHECKED, "an IP address was queried instead of a domain"),
    ],
)
def test_it_explains_each_dbl_return_code(domain, verdict, words):
    dbl = of(check_blocklist(Sender(domain, "smtp", "192.0.2.25")), f"{domain} on dbl.spamhaus.org")
    assert dbl.verdict == verdict
    assert words in dbl.explanation


def test_it_shows_the_return_code_of_a_list_without_a_code_table(settings):
    settings.DNSBL_IP_ZONES = ["rbl.test"]
    settings.DNSBL_DOMAIN_ZONES = []
    [listed] = check_blocklist(Sender("listed.test", "smtp", "203.0.113.66"))
    assert listed.subject == "203.0.113.66 on rbl.test"
    assert "listed (return code 127.0.0.3)" in listed.explanation
    assert "rbl.test" in listed.action


@pytest.mark.parametrize(
    ("host", "subject", "words"),
    [
        ("127.0.0.1", "127.0.0.1", "private or reserved address"),
        ("192.168.1.20", "192.168.1.20", "private or reserved address"),
        ("2001:db8::25", "2001:db8::25", "IPv6 address, which is not checked"),
        ("nohost.good.test", "nohost.good.test", "does not exist in DNS"),
        ("mail.slow.test", "mail.slow.test", TIMEOUT),
        ("", "SMTP server", "no SMTP server"),
    ],
)
def test_it_explains_why_a_server_address_is_not_looked_up(host, subject, words):
    results = check_blocklist(Sender("good.test", "smtp", host))
    assert [r.subject for r in results] == [subject, "good.test on dbl.spamhaus.org"]
    assert results[0].verdict == UNCHECKED
    assert words in results[0].explanation


def test_it_leaves_unchecked_a_blocklist_that_refuses(settings):
    settings.DNSBL_IP_ZONES = ["bl.nowhere.example"]
    settings.DNSBL_DOMAIN_ZONES = ["dbl.nowhere.example"]
    results = check_blocklist(Sender("good.test", "smtp", "192.0.2.25"))
    assert [r.verdict for r in results] == [UNCHECKED, UNCHECKED]
    assert {r.explanation for r in results} == {REFUSED}


# ---------------------------------------------------------------------------- resolver


def test_it_reads_the_nameservers_and_timeout_from_the_settings(settings):
    settings.DNS_NAMESERVERS = [
        "192.0.2.53:5353",
        "192.0.2.54",
        "2001:db8::53",
        "[2001:db8::54]:5300",
    ]
    settings.DNS_TIMEOUT = 1.5
    resolver = make_resolver()
    assert [(ns.address, ns.port) for ns in resolver.nameservers] == [
        ("192.0.2.53", 5353),
        ("192.0.2.54", 53),
        ("2001:db8::53", 53),
        ("2001:db8::54", 5300),
    ]
    assert resolver.timeout == resolver.lifetime == 1.5


def test_it_uses_the_system_nameservers_when_none_are_set(settings):
    settings.DNS_NAMESERVERS = []
    assert make_resolver().nameservers == dns.resolver.Resolver().nameservers


@pytest.mark.parametrize("entry", ["dns.example.com", "192.0.2.1:dns", "192.0.2.1:0", "[::1]x"])
def test_it_rejects_malformed_nameservers(settings, entry):
    settings.DNS_NAMESERVERS = [entry]
    with pytest.raises(ImproperlyConfigured):
        make_resolver()


# ---------------------------------------------------------------------------- the sandbox


def test_it_reads_a_dkim_answer_too_big_for_udp_over_tcp(dns_sandbox):
    # selector1 of msft.test is a CNAME to a 2048-bit key: with the CNAME, the answer is
    # over the 512 bytes of classic UDP.
    name = "selector1._domainkey.msft.test"
    query = dns.message.make_query(name, "TXT")  # no EDNS: 512 bytes at most over UDP
    over_udp = dns.query.udp(query, dns_sandbox.host, port=dns_sandbox.port, timeout=2)
    assert over_udp.flags & dns.flags.TC
    assert not over_udp.answer
    over_tcp = dns.query.tcp(query, dns_sandbox.host, port=dns_sandbox.port, timeout=2)
    assert len(over_tcp.to_wire()) > 512
    # The resolver retries over TCP by itself when an answer comes back truncated.
    answer = make_resolver().resolve(name, "TXT")
    text = b"".join(answer.rrset[0].strings).decode()
    key = load_der_public_key(base64.b64decode(parse_tags(text)["p"]))
    assert key.key_size == 2048
