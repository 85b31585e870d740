"""One SMTP session per mailbox, and the server's replies kept as the provider wrote them."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from types import TracebackType

from sequences.addresses import Recipient, smtputf8_refusal
from sequences.models import Mailbox

TIMEOUT_SECONDS = 30


class SmtpFailure(Exception):
    """A refusal or a broken connection, with the reply verbatim in `raw`."""

    def __init__(self, raw: str) -> None:
        super().__init__(raw)
        self.raw = raw


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
    RFC 5321 expects a client to do.
    """

    def __init__(self, mailbox: Mailbox) -> None:
        self.mailbox = mailbox
        self._smtp: smtplib.SMTP | None = None

    def __enter__(self) -> MailboxSession:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def open(self) -> None:
        """Connect, greet and authenticate; raises SmtpFailure with the server's reply."""
        mailbox = self.mailbox
        try:
            if mailbox.smtp_security == Mailbox.Security.TLS:
                smtp = smtplib.SMTP_SSL(
                    mailbox.smtp_host,
                    mailbox.smtp_port,
                    timeout=TIMEOUT_SECONDS,
                    context=ssl.create_default_context(),
                )
            else:
                smtp = smtplib.SMTP(mailbox.smtp_host, mailbox.smtp_port, timeout=TIMEOUT_SECONDS)
            try:
                smtp.ehlo()
                if mailbox.smtp_security == Mailbox.Security.STARTTLS:
                    smtp.starttls(context=ssl.create_default_context())
                    smtp.ehlo()
                smtp.login(mailbox.smtp_username, mailbox.password)
            except BaseException:
                smtp.close()
                raise
        except (smtplib.SMTPException, OSError) as exc:
            raise SmtpFailure(raw_error(exc)) from exc
        self._smtp = smtp

    def send(self, message: EmailMessage, to: Recipient) -> None:
        """Send to `to` only: the envelope is explicit, never read from the headers."""
        if self._smtp is None:
            self.open()
        if to.needs_smtputf8 and not self._smtp.has_extn("smtputf8"):
            raise SmtpFailure(smtputf8_refusal(to.address))
        try:
            # smtplib adds SMTPUTF8 (and 8BITMIME) to MAIL FROM for a non-ASCII address.
            self._smtp.send_message(message, from_addr=self.mailbox.email, to_addrs=[to.envelope])
        except (smtplib.SMTPException, OSError, UnicodeError) as exc:
            if _connection_lost(exc):
                self.close()
            raise SmtpFailure(raw_error(exc)) from exc

    def close(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (smtplib.SMTPException, OSError):
                self._smtp.close()
            self._smtp = None


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
