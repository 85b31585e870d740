"""The DNS sandbox answers like an authoritative server, over real UDP and TCP."""

from __future__ import annotations

import re

import dns.message
import dns.nameserver
import dns.query
import dns.rcode
import dns.resolver
import dns.zone
import pytest

from sandboxes.dns_server import DnsSandbox
from tests.support import running_command

ZONE = """$TTL 300
@ SOA ns hostmaster 1 3600 600 86400 300
@ NS ns
ns A 192.0.2.53
@ TXT "v=spf1 -all"
alias CNAME target
target TXT "hello"
elsewhere CNAME name.outside.test.
_domainkey.deep TXT "below an empty name"
"""


@pytest.fixture(scope="module")
def server():
    zones = [
        dns.zone.from_text(ZONE, origin="example.test", relativize=False),
        dns.zone.from_text(ZONE, origin="quiet.test", relativize=False),
    ]
    with DnsSandbox(zones, silent=["quiet.test"]) as sandbox:
        yield sandbox


def ask(server: DnsSandbox, name: str, rdtype: str = "TXT", **options) -> dns.message.Message:
    query = dns.message.make_query(name, rdtype)
    return dns.query.udp(query, server.host, port=server.port, timeout=2, **options)


def test_it_answers_with_the_records_and_says_it_is_authoritative(server):
    response = ask(server, "example.test")

    assert response.rcode() == dns.rcode.NOERROR
    assert response.flags & dns.flags.AA
    assert [rrset.to_text() for rrset in response.answer] == [
        'example.test. 300 IN TXT "v=spf1 -all"'
    ]


def test_it_follows_cnames_within_its_zones(server):
    response = ask(server, "alias.example.test")

    assert [rrset.rdtype for rrset in response.answer] == [
        dns.rdatatype.CNAME,
        dns.rdatatype.TXT,
    ]
    # A chain leaving the loaded zones ends at the CNAME, as the resolver then asks on.
    assert len(ask(server, "elsewhere.example.test").answer) == 1


def test_it_tells_a_missing_name_from_a_name_without_that_record(server):
    missing = ask(server, "nothing.example.test")
    no_data = ask(server, "target.example.test", "MX")
    empty_non_terminal = ask(server, "deep.example.test")

    assert missing.rcode() == dns.rcode.NXDOMAIN
    assert (no_data.rcode(), no_data.answer) == (dns.rcode.NOERROR, [])
    assert (empty_non_terminal.rcode(), empty_non_terminal.answer) == (dns.rcode.NOERROR, [])
    assert missing.authority[0].rdtype == dns.rdatatype.SOA


def test_it_refuses_names_outside_its_zones_and_ignores_silent_ones(server):
    assert ask(server, "example.org").rcode() == dns.rcode.REFUSED
    with pytest.raises(dns.exception.Timeout):
        ask(server, "quiet.test")


def test_it_answers_over_tcp(server):
    query = dns.message.make_query("target.example.test", "TXT")

    response = dns.query.tcp(query, server.host, port=server.port, timeout=2)

    assert response.answer[0][0].strings == (b"hello",)


def test_it_runs_as_a_command_serving_the_demo_domains():
    with running_command("dns_sandbox", "--port", "0", "--silent", "slow.test") as command:
        port = int(re.search(r"DNS sandbox on 127\.0\.0\.1:(\d+)", command.first_line)[1])
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = [dns.nameserver.Do53Nameserver("127.0.0.1", port)]
        resolver.lifetime = 1
        spf = resolver.resolve("acme.test", "TXT")
        with pytest.raises(dns.resolver.LifetimeTimeout):
            resolver.resolve("slow.test", "TXT")

    assert command.returncode == 0, command.errors
    assert "acme.test, " in command.first_line
    assert "globex.test, " in command.first_line
    assert any(b"v=spf1 include:_spf.google.com" in r.strings[0] for r in spf)
    assert "Stayed silent on slow.test." in command.output
