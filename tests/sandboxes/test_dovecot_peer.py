"""The private Dovecot of tests/dovecot.py, as a plain IMAP client sees it."""

from __future__ import annotations

import imaplib
import itertools
import ssl

import pytest

from tests.dovecot import Dovecot

_logins = itertools.count()


@pytest.fixture
def login(dovecot: Dovecot) -> str:
    name = f"peer{next(_logins)}@example.test"
    dovecot.add_user(name, "s3cret")
    return name


def _status(dovecot: Dovecot, login: str, folder: str = "INBOX") -> bytes:
    client = imaplib.IMAP4(dovecot.host, dovecot.port)
    client.login(login, "s3cret")
    try:
        return client.status(folder, "(UIDVALIDITY UIDNEXT MESSAGES)")[1][0]
    finally:
        client.logout()


def test_it_serves_what_is_delivered_to_a_maildir(dovecot: Dovecot, login: str) -> None:
    dovecot.deliver(login, b"From: a@b.test\r\nSubject: hi\r\n\r\nbody\r\n")
    dovecot.deliver(login, b"From: a@b.test\r\nSubject: spam\r\n\r\nbody\r\n", "Junk")
    client = imaplib.IMAP4(dovecot.host, dovecot.port)
    client.login(login, "s3cret")
    client.select("INBOX", readonly=True)
    _, data = client.uid("FETCH", "1:*", "(FLAGS BODY.PEEK[])")
    client.logout()
    assert data[0][1].endswith(b"Subject: hi\r\n\r\nbody\r\n")
    assert b"MESSAGES 1" in _status(dovecot, login, "Junk")


def test_it_refuses_a_wrong_password(dovecot: Dovecot, login: str) -> None:
    client = imaplib.IMAP4(dovecot.host, dovecot.port)
    with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
        client.login(login, "wrong")


def test_it_speaks_implicit_tls_with_its_certificate(dovecot: Dovecot, login: str) -> None:
    context = ssl.create_default_context(cafile=dovecot.certificate_path)
    context.check_hostname = False
    client = imaplib.IMAP4_SSL(dovecot.host, dovecot.tls_port, ssl_context=context)
    assert client.login(login, "s3cret")[0] == "OK"
    client.logout()


def test_it_renumbers_a_folder_with_a_new_uidvalidity(dovecot: Dovecot, login: str) -> None:
    dovecot.deliver(login, b"From: a@b.test\r\nSubject: hi\r\n\r\nbody\r\n")
    before = _status(dovecot, login)
    dovecot.renumber(login)
    after = _status(dovecot, login)
    assert before.split(b"UIDVALIDITY ")[1] != after.split(b"UIDVALIDITY ")[1]
    assert b"MESSAGES 1" in after
