"""Writes: every state change of the domain happens here."""

from __future__ import annotations
