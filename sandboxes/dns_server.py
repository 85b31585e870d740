"""A local authoritative DNS server for the demo and the tests of the deliverability checks.

The checks resolve real DNS records (MX, TXT, A) with dnspython. In development and in the
tests the resolver is pointed at this server (the ``DNS_NAMESERVERS`` setting), which
answers from zone files, so that no lookup leaves the machine and every verdict is known:

- A name inside a loaded zone gets its records (CNAMEs are followed within the loaded
  zones, as a recursive resolver would), an empty answer if it has none of the type asked
  (NOERROR, "no data"), or NXDOMAIN if it does not exist.
- A name outside every loaded zone gets REFUSED, as a server not authoritative for it.
- A name inside a *silent* zone gets no answer at all: the resolver times out.

It answers over UDP, with the truncation bit set when an answer does not fit, and over TCP
on the same port, like a real server.
"""

from __future__ import annotations

import logging
import socket
import socketserver
import struct
import threading
from collections.abc import Iterable
from pathlib import Path

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import dns.zone

from sandboxes.background import BackgroundServer

log = logging.getLogger(__name__)

MAX_CNAME_CHAIN = 8
UDP_PAYLOAD = 512
# The zones it serves by default: the demo's domains, the tests' fixture domains (one per
# verdict of the checks) and local copies of the provider and blocklist zones they use.
ZONES = Path(__file__).parent / "dns_zones"
# Free ports tried for UDP and TCP together before giving up.
BIND_TRIES = 20


def load_zones(folder: Path) -> list[dns.zone.Zone]:
    """Every ``<origin>.zone`` master file of a folder, named after its origin."""
    return [
        dns.zone.from_file(str(path), origin=path.stem, relativize=False)
        for path in sorted(folder.glob("*.zone"))
    ]


class DnsSandbox(BackgroundServer):
    """Serves zones on ``host:port`` (port 0: a free one) from a background thread."""

    def __init__(
        self,
        zones: Iterable[dns.zone.Zone],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        silent: Iterable[str] = (),
    ) -> None:
        self.zones = {zone.origin: zone for zone in zones}
        self.silent = {dns.name.from_text(name) for name in silent}
        self.host = host
        self.port = port
        self._servers: list[socketserver.BaseServer] = []
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        udp, tcp = self._bind()
        self._servers = [udp, tcp]
        self._threads = [
            threading.Thread(target=server.serve_forever, name="dns-sandbox", daemon=True)
            for server in self._servers
        ]
        for thread in self._threads:
            thread.start()

    def _bind(self) -> tuple[socketserver.BaseServer, socketserver.BaseServer]:
        """UDP and TCP on one port. A free UDP port's TCP twin may be taken by another
        process: with port 0, try another free port then."""
        for _ in range(BIND_TRIES):
            udp = _UdpServer((self.host, self.port), _UdpHandler, self)
            try:
                tcp = _TcpServer((self.host, udp.server_address[1]), _TcpHandler, self)
            except OSError:
                udp.server_close()
                if self.port:
                    raise
                continue
            self.port = udp.server_address[1]
            return udp, tcp
        raise OSError(f"No port free for both UDP and TCP on {self.host}")

    def stop(self) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()
        for thread in self._threads:
            thread.join()

    @property
    def nameserver(self) -> str:
        """This server as the ``DNS_NAMESERVERS`` setting names it."""
        return f"{self.host}:{self.port}"

    def answer(self, query: dns.message.Message) -> dns.message.Message | None:
        """The response to a query, or None to stay silent."""
        response = dns.message.make_response(query)
        response.flags |= dns.flags.RA
        if len(query.question) != 1:
            response.set_rcode(dns.rcode.FORMERR)
            return response
        question = query.question[0]
        name = question.name
        for _ in range(MAX_CNAME_CHAIN):
            origin = self._origin_of(name)
            if origin is None:
                # Nothing answered yet: not ours to answer. After a CNAME: the chain ends.
                if not response.answer:
                    response.set_rcode(dns.rcode.REFUSED)
                return response
            if origin in self.silent:
                return None
            zone = self.zones[origin]
            response.flags |= dns.flags.AA
            node = zone.get_node(name)
            if node is None:
                if not _has_descendant(zone, name):
                    response.set_rcode(dns.rcode.NXDOMAIN)
                response.authority.append(_soa(zone))
                return response
            rdataset = node.get_rdataset(dns.rdataclass.IN, question.rdtype)
            if rdataset is not None:
                response.answer.append(_rrset(name, rdataset))
                return response
            cname = node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.CNAME)
            if cname is None:
                response.authority.append(_soa(zone))
                return response
            response.answer.append(_rrset(name, cname))
            name = cname[0].target
        response.set_rcode(dns.rcode.SERVFAIL)
        return response

    def _origin_of(self, name: dns.name.Name) -> dns.name.Name | None:
        """The loaded zone holding a name: the one with the longest origin."""
        while True:
            if name in self.zones:
                return name
            try:
                name = name.parent()
            except dns.name.NoParent:
                return None

    def respond(self, wire: bytes, *, udp: bool) -> bytes | None:
        try:
            query = dns.message.from_wire(wire)
        except dns.exception.DNSException:
            log.info("Ignored a malformed query of %d bytes", len(wire))
            return None
        # Over UDP: what the client's EDNS says it takes, else the classic 512 bytes.
        max_size = 65535
        if udp:
            max_size = max(query.payload, UDP_PAYLOAD) if query.edns >= 0 else UDP_PAYLOAD
        response = self.answer(query)
        if response is None:
            log.info("Stayed silent on %s", query.question[0].name)
            return None
        try:
            return response.to_wire(max_size=max_size)
        except dns.exception.TooBig:
            truncated = dns.message.make_response(query)
            truncated.flags |= dns.flags.TC
            return truncated.to_wire()


def _rrset(name: dns.name.Name, rdataset: dns.rdataset.Rdataset) -> dns.rrset.RRset:
    rrset = dns.rrset.RRset(name, rdataset.rdclass, rdataset.rdtype)
    rrset.update(rdataset)
    return rrset


def _soa(zone: dns.zone.Zone) -> dns.rrset.RRset:
    return _rrset(zone.origin, zone.find_rdataset(zone.origin, dns.rdatatype.SOA))


def _has_descendant(zone: dns.zone.Zone, name: dns.name.Name) -> bool:
    """An empty non-terminal (``_domainkey.example.test`` above a DKIM key) exists."""
    return any(other.is_subdomain(name) for other in zone.nodes)


class _UdpServer(socketserver.ThreadingUDPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type, sandbox: DnsSandbox) -> None:
        self.sandbox = sandbox
        super().__init__(address, handler)


class _TcpServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], handler: type, sandbox: DnsSandbox) -> None:
        self.sandbox = sandbox
        super().__init__(address, handler)


class _UdpHandler(socketserver.BaseRequestHandler):
    server: _UdpServer

    def handle(self) -> None:
        wire, sock = self.request
        reply = self.server.sandbox.respond(wire, udp=True)
        if reply is not None:
            sock.sendto(reply, self.client_address)


class _TcpHandler(socketserver.BaseRequestHandler):
    server: _TcpServer

    def handle(self) -> None:
        sock: socket.socket = self.request
        while header := _read_exactly(sock, 2):
            wire = _read_exactly(sock, struct.unpack("!H", header)[0])
            reply = self.server.sandbox.respond(wire, udp=False)
            if reply is None:
                return
            sock.sendall(struct.pack("!H", len(reply)) + reply)


def _read_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            return b""
        data += chunk
    return data
