"""One SMTP session per mailbox, and the server's replies kept as the provider wrote them."""

from __future__ import annotations

import functools
import io
import smtplib
import ssl
import time
from collections.abc import Callable
from email.generator import BytesGenerator
from email.message import EmailMessage
from email.policy import Policy
from types import TracebackType

from cryptography.fernet import InvalidToken
from django.conf import settings

from sequences.addresses import Recipient, smtputf8_refusal
from sequences.models import Mailbox
from sequences.services.oauth import OAuthRefused, mailbox_access_token, xoauth2

_END_OF_DATA = b"\r\n.\r\n"
SECRET_UNREADABLE = (
    "Not sent: the mailbox's stored password cannot be decrypted with the keys of "
    "MAILBOX_SECRET_KEYS (a key was rotated away?). Reconnect the mailbox with its password."
)


class Deadline:
    """When a batch must be done: whatever the worker's pool enforces (the solo pool
    enforces no time limit), no reply is waited for past it.

    Each wait for a reply gets SMTP_TIMEOUT, or what is left if that is less; no email is
    started with less than a full wait left, so a slow but working server is given its
    time, and a conversation cut by the deadline is the rare one that straddles it.
    """

    def __init__(self, seconds: float) -> None:
        self._seconds = seconds
        self._at = time.monotonic() + seconds

    def left(self) -> float:
        return self._at - time.monotonic()

    def timeout(self) -> float:
        """The longest the next wait may take (never 0: that would make the socket
        non-blocking)."""
        return max(0.001, min(settings.SMTP_TIMEOUT, self.left()))

    def reached(self) -> bool:
        """Whether no email should start now."""
        return self.left() < min(settings.SMTP_TIMEOUT, self._seconds / 4)


class SmtpFailure(Exception):
    """A refusal or a broken connection, with the reply verbatim in `raw`."""

    def __init__(self, raw: str) -> None:
        super().__init__(raw)
        self.raw = raw


class DeliveryUncertain(SmtpFailure):
    """The whole message went out, then no reply came: the server may have accepted it.

    A resend could deliver it twice, so it is never retried by itself.
    """


class ConnectionFailed(SmtpFailure):
    """Connecting, greeting, starting TLS or signing in failed: the mailbox's problem, which
    every other email of the batch would meet the same way."""


class _Conversation:
    """smtplib, watched: each wait for a reply ends by the deadline, a connection that
    never greets is closed, and `handed_over` notes when the final dot of DATA was written
    (after it, the server may have the message
    whatever happens to its reply; smtplib does not say which side failed)."""

    deadline: Deadline | None = None  # set once connected (the greeting waits `timeout`)
    waiting: Callable[[], None] | None = None
    handed_over = False

    def send(self, s: bytes | str) -> None:
        super().send(s)
        if isinstance(s, bytes) and s.endswith(_END_OF_DATA):
            self.handed_over = True

    def connect(
        self, host: str = "localhost", port: int = 0, source_address: object = None
    ) -> tuple[int, bytes]:
        try:
            return super().connect(host, port, source_address)
        except BaseException:
            # smtplib leaves the socket open when the greeting never comes: the server
            # would hold the connection until its own timeout.
            self.close()
            raise

    def getreply(self) -> tuple[int, bytes]:
        if self.waiting is not None:
            self.waiting()
        if self.deadline is not None and self.sock is not None:
            self.sock.settimeout(self.deadline.timeout())
        return super().getreply()


class _SMTP(_Conversation, smtplib.SMTP):
    pass


class _SMTP_SSL(_Conversation, smtplib.SMTP_SSL):
    pass


def _reply(code: int, message: bytes | str) -> str:
    text = message.decode("utf-8", "replace") if isinstance(message, bytes) else message
    return f"{code} {text}"


def raw_error(exc: Exception) -> str:
    """The server's reply as it was sent (`550 5.1.1 User unknown`), or the local failure."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        code, message = next(iter(exc.recipients.values()))
        return _reply(code, message)
    if isinstance(exc, smtplib.SMTPResponseException):
        return _reply(exc.smtp_code, exc.smtp_error)
    return f"{type(exc).__name__}: {exc}"


class MailboxSession:
    """An SMTP connection for one mailbox, opened on first use and reused for a batch.

    A server that answers 421 or drops the line is reconnected on the next send, as
    RFC 5321 expects a client to do. Socket timeouts come from `deadline` (SMTP_TIMEOUT
    at most); `waiting` is called before each wait for a reply (the batch renews its lease).
    """

    def __init__(
        self,
        mailbox: Mailbox,
        *,
        deadline: Deadline | None = None,
        waiting: Callable[[], None] | None = None,
    ) -> None:
        self.mailbox = mailbox
        self.deadline = deadline or Deadline(settings.SEND_BATCH_DEADLINE)
        self.waiting = waiting
        self._smtp: smtplib.SMTP | None = None

    def __enter__(self) -> MailboxSession:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def open(self, passed: Callable[[str], object] = lambda step: None) -> None:
        """Connect, greet and authenticate; raises SmtpFailure with the server's reply.

        `passed` hears each step that succeeded, in words (a connection test shows them).
        """
        mailbox = self.mailbox
        # Before connecting: a refresh of an OAuth token keeps no server waiting.
        secret = _secret(mailbox)
        # Connecting and the greeting wait this long; each later reply, what the deadline
        # leaves then.
        timeout = self.deadline.timeout()
        try:
            if mailbox.smtp_security == Mailbox.Security.TLS:
                smtp = _SMTP_SSL(
                    mailbox.smtp_host,
                    mailbox.smtp_port,
                    timeout=timeout,
                    context=ssl.create_default_context(),
                )
            else:
                smtp = _SMTP(mailbox.smtp_host, mailbox.smtp_port, timeout=timeout)
            smtp.deadline, smtp.waiting = self.deadline, self.waiting
            over_tls = " over TLS" if mailbox.smtp_security == Mailbox.Security.TLS else ""
            passed(f"Connected to {mailbox.smtp_host}:{mailbox.smtp_port}{over_tls}.")
            try:
                smtp.ehlo()
                passed("The server greeted us (EHLO).")
                if mailbox.smtp_security == Mailbox.Security.STARTTLS:
                    smtp.starttls(context=ssl.create_default_context())
                    smtp.ehlo()
                    passed("The connection is encrypted (STARTTLS), its certificate trusted.")
                if mailbox.smtp_username:  # a relay that knows the host needs no sign-in
                    passed(_sign_in(smtp, mailbox, secret))
            except BaseException:
                smtp.close()
                raise
        except (smtplib.SMTPException, OSError) as exc:
            raise ConnectionFailed(raw_error(exc)) from exc
        self._smtp = smtp

    def send(self, message: EmailMessage, to: Recipient) -> None:
        """Send to `to` only: the envelope is explicit, never read from the headers, which
        are written as they are (the messages sent here carry no Bcc)."""
        if self._smtp is None:
            self.open()
        if to.needs_smtputf8 and not self._smtp.has_extn("smtputf8"):
            raise SmtpFailure(smtputf8_refusal(to.address))
        smtp = self._smtp
        smtp.handed_over = False
        sender = self.mailbox.email
        # As smtplib's send_message (in its words): a non-ASCII address is sent with
        # SMTPUTF8 (and 8BITMIME), and the headers in UTF-8.
        international = not (sender + to.envelope).isascii()
        try:
            if international and not smtp.has_extn("smtputf8"):
                raise smtplib.SMTPNotSupportedError(
                    "One or more source or delivery addresses require internationalized email "
                    "support, but the server does not advertise the required SMTPUTF8 capability"
                )
            smtp.sendmail(
                sender,
                [to.envelope],
                wire_bytes(message, international=international),
                ("SMTPUTF8", "BODY=8BITMIME") if international else (),
            )
        except (smtplib.SMTPException, OSError, UnicodeError) as exc:
            lost = _connection_lost(exc)
            if lost:
                self.close()
            if lost and smtp.handed_over:
                raise DeliveryUncertain(
                    "Delivery uncertain: the message was handed to the SMTP server, which "
                    f"then gave no reply ({raw_error(exc)}). It may have been delivered."
                ) from exc
            raise SmtpFailure(raw_error(exc)) from exc

    @property
    def handed_over(self) -> bool:
        """Whether the last send wrote the final dot: the server may have the message."""
        return self._smtp is not None and self._smtp.handed_over

    def close(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (smtplib.SMTPException, OSError):
                self._smtp.close()
            self._smtp = None


@functools.cache
def wire_policy(policy: Policy, *, international: bool) -> Policy:
    """`policy` as messages are written to SMTP: CRLF, and UTF-8 headers for SMTPUTF8. Made
    once for each, so that a header can keep how it was written (sending._Header)."""
    return policy.clone(linesep="\r\n", utf8=policy.utf8 or international)


def wire_bytes(message: EmailMessage, *, international: bool) -> bytes:
    """The message as smtplib's send_message writes it."""
    with io.BytesIO() as out:
        BytesGenerator(
            out, policy=wire_policy(message.policy, international=international)
        ).flatten(message)
        return out.getvalue()


def _secret(mailbox: Mailbox) -> str:
    """What the mailbox signs in with: its password, or an OAuth access token valid now
    (refreshed if near its expiry). ConnectionFailed when there is none: no key of
    MAILBOX_SECRET_KEYS opens it (a key rotated away), or the provider refused the refresh;
    the whole mailbox is then held once, not each email failed."""
    if not mailbox.smtp_username:
        return ""
    try:
        return mailbox_access_token(mailbox) if mailbox.uses_oauth else mailbox.password
    except InvalidToken as error:
        raise ConnectionFailed(SECRET_UNREADABLE) from error
    except OAuthRefused as refused:
        raise ConnectionFailed(refused.raw) from refused


def _sign_in(smtp: smtplib.SMTP, mailbox: Mailbox, secret: str) -> str:
    """AUTH with a password (smtplib picks PLAIN or LOGIN) or with SASL XOAUTH2; returns
    the step in words. A refused XOAUTH2 is answered with a challenge first (Gmail's
    base64 JSON): the empty line answering it has the server send its refusal."""
    if not mailbox.uses_oauth:
        smtp.login(mailbox.smtp_username, secret)
        return f"Signed in as {mailbox.smtp_username}."
    initial = xoauth2(mailbox.smtp_username, secret)
    smtp.auth(
        "XOAUTH2",
        lambda challenge=None: initial if challenge is None else "",
        initial_response_ok=True,
    )
    return (
        f"Signed in as {mailbox.smtp_username} with {mailbox.oauth_provider} (OAuth 2.0, XOAUTH2)."
    )


def _connection_lost(exc: Exception) -> bool:
    """Whether the session is over (reconnect for the next email), or only this one failed.

    Checked in this order because smtplib's exceptions are OSErrors too: a 550 for one
    recipient keeps the session (signing in again per refusal trips servers' rate limits).
    """
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return True
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return any(code == 421 for code, _ in exc.recipients.values())
    if isinstance(exc, smtplib.SMTPResponseException):
        return exc.smtp_code == 421
    return not isinstance(exc, smtplib.SMTPException) and isinstance(exc, OSError)
