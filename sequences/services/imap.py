"""One IMAP connection per mailbox read, and the server's replies kept as it wrote them.

The standard library's imaplib: synchronous like the rest of the workers, no dependency to
keep, and all a reader needs (STATUS, EXAMINE, UID SEARCH/FETCH with BODY.PEEK, STARTTLS,
AUTHENTICATE for OAuth's XOAUTH2).
"""

from __future__ import annotations

import imaplib
import ssl
from collections.abc import Iterator
from contextlib import contextmanager

from cryptography.fernet import InvalidToken
from django.conf import settings

from sequences.models import Mailbox
from sequences.services.oauth import OAuthRefused, mailbox_access_token, xoauth2
from sequences.services.smtp import SECRET_UNREADABLE


class ImapFailure(Exception):
    """Connecting, starting TLS or signing in failed, with the server's words in `raw`."""

    def __init__(self, raw: str) -> None:
        super().__init__(raw)
        self.raw = raw


def imap_raw(exc: BaseException) -> str:
    """The server's reply as it was sent, or the local failure (as smtp.raw_error)."""
    if isinstance(exc, imaplib.IMAP4.error) and exc.args:
        said = exc.args[0]
        return said.decode("utf-8", "replace") if isinstance(said, bytes) else str(said)
    return f"{type(exc).__name__}: {exc}"


def imap_sign_in(client: imaplib.IMAP4, mailbox: Mailbox) -> None:
    """Sign in as the mailbox: with its password, or with SASL XOAUTH2 and an access token
    (refreshed if near expiry). A refused token is answered with a challenge first: the
    empty line answering it has the server send its refusal, as SMTP's does."""
    if not mailbox.uses_oauth:
        client.login(mailbox.imap_login, mailbox.imap_password)
        return
    answers = iter([xoauth2(mailbox.imap_login, mailbox_access_token(mailbox)).encode()])
    client.authenticate("XOAUTH2", lambda challenge: next(answers, b""))


def imap_connect(mailbox: Mailbox, *, timeout: float | None = None) -> imaplib.IMAP4:
    """An IMAP connection to the mailbox's server, encrypted as its settings say, signed in;
    ImapFailure says why not."""
    timeout = timeout or settings.IMAP_TIMEOUT
    host, port = mailbox.imap_host, mailbox.imap_port
    try:
        if mailbox.imap_security == Mailbox.Security.TLS:
            client = imaplib.IMAP4_SSL(
                host, port, ssl_context=ssl.create_default_context(), timeout=timeout
            )
        else:
            client = imaplib.IMAP4(host, port, timeout=timeout)
        try:
            if mailbox.imap_security == Mailbox.Security.STARTTLS:
                client.starttls(ssl.create_default_context())
            imap_sign_in(client, mailbox)
        except BaseException:
            client.shutdown()
            raise
    except (imaplib.IMAP4.error, OSError, ValueError) as exc:
        raise ImapFailure(imap_raw(exc)) from exc
    except InvalidToken as exc:  # a key rotated away: the whole mailbox is held once
        raise ImapFailure(SECRET_UNREADABLE) from exc
    except OAuthRefused as refused:  # the provider refused to refresh the token
        raise ImapFailure(refused.raw) from refused
    return client


@contextmanager
def imap_session(mailbox: Mailbox, *, timeout: float | None = None) -> Iterator[imaplib.IMAP4]:
    client = imap_connect(mailbox, timeout=timeout)
    try:
        yield client
    finally:
        try:
            client.logout()
        except (imaplib.IMAP4.error, OSError):
            client.shutdown()
