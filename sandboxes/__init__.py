"""Local stand-ins for the servers the product talks to: an SMTP server answering like the
providers, an authoritative DNS server for the deliverability checks. Development and
tests only."""

from __future__ import annotations
