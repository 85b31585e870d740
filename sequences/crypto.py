"""Mailbox secrets at rest: Fernet tokens keyed from settings.MAILBOX_SECRET_KEYS.

MultiFernet lets an operator rotate keys: the first key encrypts, every key decrypts.
"""

from __future__ import annotations

from functools import cache

from cryptography.fernet import Fernet, MultiFernet
from django.conf import settings


@cache
def _fernet() -> MultiFernet:
    return MultiFernet([Fernet(key) for key in settings.MAILBOX_SECRET_KEYS])


def encrypt_secret(plain: str) -> str:
    return _fernet().encrypt(plain.encode()).decode("ascii")


def decrypt_secret(token: str) -> str:
    return _fernet().decrypt(token.encode("ascii")).decode()
