"""Reading records without DNS: SPF syntax (RFC 7208 section 12), DMARC tags, suggestions."""

from __future__ import annotations

import base64
import ipaddress

import pytest

from deliverability.checks.blocklists import BLOCKLISTS, blocklist, is_routed
from deliverability.checks.dkim import _judge_key, _Probe, selectors_for
from deliverability.checks.dmarc import is_dmarc, parse_tags
from deliverability.checks.results import Sender, organizational_domain, txt_record
from deliverability.checks.spf import SpfSyntaxError, is_spf, parse, suggest


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("v=spf1", True),
        ("v=spf1 -all", True),
        ("V=SPF1 include:_spf.google.com ~ALL", True),
        ("v=spf10 -all", False),
        ("v=spf1\t-all", False),
        (" v=spf1 -all", False),
        ("spf1 -all", False),
        ("google-site-verification=abc", False),
    ],
)
def test_it_tells_an_spf_record_from_other_txt_records(text, expected):
    assert is_spf(text) is expected


@pytest.mark.parametrize(
    "text",
    [
        "v=spf1 a mx ip4:192.0.2.0/24 ip6:2001:db8::/32 include:_spf.google.com ptr -all",
        "v=spf1 a:mail.acme.com/24//64 mx/24 mx//64 a//128 ~all",
        "v=spf1 +a -mx ~ptr:acme.com ?all",
        "v=spf1 redirect=_spf.acme.com",
        "v=spf1 include:_spf.google.com. -all",
        "v=spf1 exists:%{i}._spf.%{d} exists:%{ir}.%{v}._spf.acme.com -all",
        "v=spf1 ip4:192.0.2.1 exp=explain._spf.%{d} -all",
        "v=spf1 foo=bar unknown-mod=%{c} empty= -all",
        "V=SPF1 IP4:192.0.2.1 -ALL",
        "v=spf1   mx    -all  ",
        "v=spf1 ip4:0.0.0.0/0 ip6:::/0 -all",
    ],
)
def test_it_accepts_valid_spf_records(text):
    record = parse(text)

    # Every term after the version is kept, none invented.
    assert [term.text.lower() for term in record.terms] == text.lower().split()[1:]


@pytest.mark.parametrize(
    ("text", "term"),
    [
        ("v=spf1 ip4:192.0.2.300 -all", "ip4:192.0.2.300"),
        ("v=spf1 ip4:192.0.2.0/33 -all", "ip4:192.0.2.0/33"),
        ("v=spf1 ip4:192.0.2.0/024 -all", "ip4:192.0.2.0/024"),
        ("v=spf1 ip4:192.0.2.0/ -all", "ip4:192.0.2.0/"),
        ("v=spf1 ip4:2001:db8::1 -all", "ip4:2001:db8::1"),
        ("v=spf1 ip6:192.0.2.1 -all", "ip6:192.0.2.1"),
        ("v=spf1 ip6:2001:db8::/129 -all", "ip6:2001:db8::/129"),
        ("v=spf1 ipv4:192.0.2.1 -all", "ipv4:192.0.2.1"),
        ("v=spf1 include: -all", "include:"),
        ("v=spf1 include -all", "include"),
        ("v=spf1 include:localhost -all", "include:localhost"),
        ("v=spf1 include:acme..com -all", "include:acme..com"),
        ("v=spf1 a:acme.123 -all", "a:acme.123"),
        ("v=spf1 a/24/64 -all", "a/24/64"),
        ("v=spf1 a/33 -all", "a/33"),
        ("v=spf1 mx:%{z}.acme.com -all", "mx:%{z}.acme.com"),
        ("v=spf1 exists:%{c}.acme.com -all", "exists:%{c}.acme.com"),
        ("v=spf1 all:acme.com", "all:acme.com"),
        ("v=spf1 -redirect=acme.com", "-redirect=acme.com"),
        ("v=spf1 redirect=a.acme.com redirect=b.acme.com", "redirect=b.acme.com"),
        ("v=spf1 exp=a.acme.com exp=b.acme.com -all", "exp=b.acme.com"),
        ("v=spf1 ~ -all", "~"),
        ("v=spf1 include:exämple.com -all", "include:exämple.com"),
        # Python reads scope ids (RFC 4007) in IPv6 addresses; SPF has none.
        ("v=spf1 ip6:fe80::1%eth0 -all", "ip6:fe80::1%eth0"),
        ("v=spf1 ip6:fe80::%1/64 -all", "ip6:fe80::%1/64"),
    ],
)
def test_it_names_the_invalid_term_of_an_spf_record(text, term):
    with pytest.raises(SpfSyntaxError) as error:
        parse(text)
    assert error.value.term == term


def test_it_splits_an_spf_record_into_its_terms_up_to_all():
    record = parse("v=spf1 include:_spf.google.com mx ~all ip4:192.0.2.1 redirect=x.acme.com")
    assert [(t.name, t.qualifier, t.value) for t in record.terms] == [
        ("include", "+", "_spf.google.com"),
        ("mx", "+", ""),
        ("all", "~", ""),
        ("ip4", "+", "192.0.2.1"),
        ("redirect", "", "x.acme.com"),
    ]
    assert [t.text for t in record.evaluated] == ["include:_spf.google.com", "mx", "~all"]
    assert [t.text for t in record.after_all] == ["ip4:192.0.2.1"]
    # redirect= is ignored when the record has an all mechanism (RFC 7208 6.1).
    assert record.redirect is None


@pytest.mark.parametrize(
    ("tokens", "provider", "expected"),
    [
        (["mx", "+all"], "smtp", "v=spf1 mx ~all"),
        (["mx", "?all"], "microsoft", "v=spf1 mx include:spf.protection.outlook.com -all"),
        (["include:_spf.google.com", "-all", "include:x.acme.com"], "gmail",
         "v=spf1 include:_spf.google.com include:x.acme.com -all"),
        (["+include:_spf.google.com", "~all", "include:_spf.google.com", "~all"], "gmail",
         "v=spf1 +include:_spf.google.com ~all"),
        (["include=_spf.google.com", "~all"], "gmail", "v=spf1 include:_spf.google.com ~all"),
        (["redirect=_spf.acme.com"], "smtp", "v=spf1 redirect=_spf.acme.com"),
        (["mx", "redirect=_spf.acme.com", "-all"], "smtp", "v=spf1 mx -all"),
        (["exp=why.acme.com", "mx"], "smtp", "v=spf1 mx ~all exp=why.acme.com"),
        # "-include:" of the provider's servers gives them a fail: the qualifier goes.
        (["-include:_spf.google.com", "~all"], "gmail", "v=spf1 include:_spf.google.com ~all"),
        (["?include:_spf.google.com", "include:_spf.google.com"], "gmail",
         "v=spf1 include:_spf.google.com ~all"),
        (["~include:_spf.google.com", "-all"], "smtp", "v=spf1 ~include:_spf.google.com -all"),
    ],
)  # fmt: skip
def test_it_suggests_a_corrected_spf_record(tokens, provider, expected):
    assert suggest(tokens, provider) == expected


def test_it_quotes_txt_records_and_splits_them_into_255_byte_strings():
    assert txt_record("acme.com", 'say "hi"\\') == 'acme.com. TXT "say \\"hi\\"\\\\"'
    long = "v=spf1 " + " ".join(f"ip4:192.0.2.{n}" for n in range(40)) + " -all"
    record = txt_record("acme.com.", long)
    assert record.startswith('acme.com. TXT "v=spf1 ')
    strings = record.removeprefix("acme.com. TXT ").split('" "')
    assert len(strings[0].strip('"')) == 255
    assert "".join(s.strip('"') for s in strings) == long


def test_it_reads_dmarc_tags_and_tells_a_dmarc_record():
    assert parse_tags(" v=DMARC1 ;p = Reject; rua=mailto:a@acme.com ; ; P=none") == {
        "v": "DMARC1",
        "p": "Reject",
        "rua": "mailto:a@acme.com",
    }
    assert is_dmarc("v=DMARC1; p=none")
    assert is_dmarc("v = DMARC1")
    assert is_dmarc("V=DMARC1;p=none")  # "v" is case-insensitive in ABNF, DMARC1 is not
    assert not is_dmarc("v = dmarc1")
    assert not is_dmarc("v=Dmarc1; p=none")
    assert not is_dmarc("v=DMARC1 p=reject")  # the ";" after the version is required
    assert not is_dmarc("v=DMARC10; p=none")
    assert not is_dmarc("p=none; v=DMARC1")


@pytest.mark.parametrize(
    ("domain", "organizational"),
    [
        ("acme.com", "acme.com"),
        ("mail.acme.com", "acme.com"),
        ("a.b.acme.com", "acme.com"),
        ("mail.acme.co.uk", "acme.co.uk"),
        ("acme.com.au", "acme.com.au"),
        ("mail.good.test", "good.test"),
        ("co.uk", "co.uk"),
    ],
)
def test_it_finds_the_organizational_domain_by_the_public_suffix_list(domain, organizational):
    assert organizational_domain(domain) == organizational


def test_it_tries_the_providers_selectors_then_the_admins_each_once():
    sender = Sender("acme.com", "microsoft", dkim_selectors=("S1", "selector1", "k2._domainkey"))
    assert selectors_for(sender, "acme.com") == ["selector1", "selector2", "s1", "k2"]
    assert selectors_for(Sender("acme.com", "smtp"), "acme.com") == []


@pytest.mark.parametrize(
    ("address", "routed"),
    [
        # Documentation ranges stand for public addresses in the fixtures: looked up.
        ("192.0.2.10", True),
        ("198.51.100.10", True),
        ("203.0.113.10", True),
        ("8.8.8.8", True),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("100.64.0.1", False),
        ("127.0.0.1", False),
        ("169.254.1.1", False),
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("255.255.255.255", False),
        ("2001:db8::1", True),
        ("2a00:1450:4001::1", True),
        ("::1", False),
        ("fe80::1", False),
        ("fd00::1", False),
    ],
)
def test_it_looks_up_only_publicly_routed_addresses(address, routed):
    assert is_routed(ipaddress.ip_address(address)) is routed


def test_it_knows_the_return_and_error_codes_of_each_blocklist():
    assert set(BLOCKLISTS) == {
        "zen.spamhaus.org",
        "dbl.spamhaus.org",
        "bl.spamcop.net",
        "b.barracudacentral.org",
    }
    zen = BLOCKLISTS["zen.spamhaus.org"]
    assert {code for code, meaning in zen.codes.items() if meaning.startswith("XBL")} == {
        "127.0.0.4",
        "127.0.0.5",
        "127.0.0.6",
        "127.0.0.7",
    }
    assert set(zen.errors) == {"127.255.255.252", "127.255.255.254", "127.255.255.255"}
    assert "127.0.1.255" in BLOCKLISTS["dbl.spamhaus.org"].errors
    # Other Spamhaus zones (e.g. DQS) share the error codes; unknown lists have none.
    assert blocklist("key.zen.dq.spamhaus.net").errors == zen.errors
    assert blocklist("rbl.example.org").errors == {}


ED25519_KEY = base64.b64encode(bytes(range(32))).decode()


@pytest.mark.parametrize(
    ("record", "verdict", "words"),
    [
        (f"v=DKIM1; k=ed25519; p={ED25519_KEY}", "pass", "publishes an Ed25519 key"),
        ("v=DKIM1; k=ed25519; p=AAAA", "fail", "Ed25519 key at s._domainkey.acme.com is not"),
        (f"v=DKIM1; k=dsa; p={ED25519_KEY}", "fail", "key type k=dsa"),
        ("v=DKIM2; p=AAAA", "fail", "v=DKIM2 instead of v=DKIM1"),
        ("v=DKIM1; k=rsa", "fail", "no p= public key"),
        ("v=DKIM1; h=sha1; p=AAAA", "fail", "allows only sha1 signatures"),
        ("v=DKIM1; p=not base64!", "fail", "not a readable RSA public key"),
        (f"v=DKIM1; k=ed25519; t=y; p={ED25519_KEY}", "warning", "in test mode (t=y)"),
        (f"v=DKIM1; k=ed25519; t=s:y ; p = {ED25519_KEY[:20]} {ED25519_KEY[20:]}", "warning",
         "test mode"),
        # RFC 6376 3.2: a tag-list with a tag twice is invalid.
        (f"v=DKIM1; k=ed25519; p={ED25519_KEY}; k=rsa", "fail", "repeats the tag k="),
        (f"v=DKIM1; k=ed25519; p={ED25519_KEY}; p=", "fail", "repeats the tag p="),
        # s= lists the services the key is for: email or * (any).
        (f"v=DKIM1; k=ed25519; s=tlsrpt; p={ED25519_KEY}", "fail", "s=tlsrpt"),
        (f"v=DKIM1; k=ed25519; s=email:tlsrpt; p={ED25519_KEY}", "pass", "Ed25519 key"),
        (f"v=DKIM1; k=ed25519; s=*; p={ED25519_KEY}", "pass", "Ed25519 key"),
    ],
)  # fmt: skip
def test_it_judges_each_kind_of_dkim_key_record(record, verdict, words):
    probe = _Probe("s", "s._domainkey.acme.com", None)
    found_verdict, explanation, _ = _judge_key(probe, Sender("acme.com", "smtp"), record)
    assert found_verdict == verdict
    assert words in explanation
