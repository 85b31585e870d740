"""A local SMTP server that answers like the mail providers our users send through.

The sending pipeline, the demo and the tests need a real protocol peer: one that speaks
EHLO, STARTTLS, AUTH PLAIN/LOGIN, MAIL, RCPT and DATA, and refuses mail with the codes and
texts real providers use, so that the diagnostics see the same strings as in production.

Rules (exact replies):

- AUTH with the password ``wrong``: ``535 5.7.8 Authentication credentials invalid``; any
  other password is accepted. AUTH is offered without TLS because the sandbox is meant to
  listen on loopback; STARTTLS is offered too, with a self-signed certificate made at start.
- A recipient at one of the domains of ``RECIPIENT_REPLIES`` gets that reply to RCPT;
  after ``421`` the server closes the connection, as RFC 5321 says.
- A decoded text part of the body containing ``FREE MONEY``: ``550 5.1.6`` after DATA.
- A recipient at ``slowdata.test``: the message is stored, and answered only after
  ``slow_data_seconds``; at ``dropdata.test``: stored, then the connection closes without
  a reply. Either way the server has the message and the client cannot know it.
- With ``greeting_delay_seconds``, the server accepts each connection and greets only
  that much later: a server that is up but stuck, for clients' connection timeouts.
- A message over ``max_size`` bytes: ``552 5.3.4``, after MAIL when the client announces
  its SIZE (smtplib does), after DATA otherwise.
- More than ``rate`` accepted messages from one login in any 60 seconds: ``451 4.4.5``
  to MAIL (and to DATA, for sessions of the same login racing past MAIL together).
- A recipient at one of the domains of ``sandboxes.answers.ANSWER_LATER`` is accepted like
  any other; ``answer_delay_seconds`` later, what that domain's server would send back (a
  Postfix bounce, a reply, an out-of-office, an ARF complaint) is delivered to the
  sender's own mailbox: the Maildir ``<inboxes>/<login>/`` (the MAIL FROM address for a
  session without AUTH), written atomically by ``mailbox.Maildir`` (tmp/, then new/).
  Answers still waiting when the sandbox stops are not sent.

AUTH XOAUTH2 (Google's and Microsoft's SASL mechanism: ``user=<address>^Aauth=Bearer
<token>^A^A``) is checked against the OAuth sandbox at ``oauth_url`` (its RFC 7662
introspection endpoint, sandboxes/oauth_server.py): an active token given to that address
signs in. Any other is refused in the words of the token's provider: Google's challenge
``334 <base64 {"status":"401","schemes":"bearer","scope":"https://mail.google.com/"}>``,
then, after the client's empty line, ``535-5.7.8 Username and Password not accepted...``;
Microsoft's ``535 5.7.3 Authentication unsuccessful``.

SMTPUTF8 (RFC 6531) is offered only when the sandbox is started with ``smtputf8``: the
sending pipeline is tested both with a server that takes non-ASCII addresses and with
one that does not.

Mail sent without AUTH is accepted like real relays on a trusted network would, under the
empty login (one rate bucket for all unauthenticated sessions).

Each accepted message is stored once (not once per recipient, so that its Message-ID is
unique in the store) in a Maildir at ``store``: the bytes received, with line ends turned
from SMTP's CRLF into the LF mail readers expect in a Maildir, after prepended
``X-Sandbox-*`` headers recording the envelope and the session.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import datetime as dt
import email
import json
import logging
import mailbox
import re
import shutil
import ssl
import tempfile
import time
import urllib.parse
import urllib.request
from collections import defaultdict, deque
from collections.abc import Callable
from email import policy
from email.message import EmailMessage
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import MISSING, SMTP, AuthResult, Envelope, LoginPassword, Session

from sandboxes.answers import ANSWER_LATER, Writer
from sandboxes.background import BackgroundServer
from sandboxes.certificates import write_self_signed
from sandboxes.oauth_server import GOOGLE, INTROSPECTION_CLIENT, flavour_of_token

log = logging.getLogger(__name__)

DEFAULT_MAX_SIZE = 10 * 1024 * 1024
DEFAULT_RATE = 600
RATE_WINDOW_SECONDS = 60.0

# The name the server greets with. Given explicitly because aiosmtpd's default,
# socket.getfqdn(), can wait seconds on a DNS lookup at every connection.
SERVER_NAME = "smtp-sandbox.test"

_ENCODED = re.compile(rb"content-transfer-encoding:\s*(?:base64|quoted-printable)", re.I)
_MESSAGE_ID = re.compile(rb"^message-id:[ \t]*(.+?)\r?$", re.I | re.M)

REFUSED_PASSWORD = "wrong"
SPAM_MARKER = "FREE MONEY"

AUTH_INVALID = "535 5.7.8 Authentication credentials invalid"
GMAIL_XOAUTH2_CHALLENGE = json.dumps(
    {"status": "401", "schemes": "bearer", "scope": "https://mail.google.com/"},
    separators=(",", ":"),
)
GMAIL_XOAUTH2_REFUSED = (
    "535-5.7.8 Username and Password not accepted. For more information, go to\r\n"
    "535 5.7.8  https://support.google.com/mail/?p=BadCredentials"
)
MICROSOFT_XOAUTH2_REFUSED = "535 5.7.3 Authentication unsuccessful"
SPAM = "550 5.1.6 Spam not accepted"
TOO_LARGE = "552 5.3.4 Message size exceeds fixed limit"
TOO_BUSY = "451 4.4.5 Server too busy"
ACCEPTED = "250 2.0.0 OK"
RECIPIENT_REPLIES: dict[str, str] = {
    "unknown.test": "550 5.1.1 User unknown",
    "inactive.test": "553 5.1.3 Invalid/Inactive user",
    "full.test": "452 4.2.2 Mailbox full",
    "away.test": "450 4.2.1 Mailbox temporarily unavailable",
    "busy.test": "421 4.7.0 Service temporarily unavailable",
    "blocked.test": "550 5.7.26 Service refused: sending domain blocked",
}

# Recipients whose message is kept, then answered late or not at all: the server has it,
# the client cannot know. (Postfix warns of this: "message may be sent more than once".)
SLOW_DATA_DOMAIN = "slowdata.test"
DROP_DATA_DOMAIN = "dropdata.test"
DEFAULT_SLOW_DATA_SECONDS = 5.0
DEFAULT_ANSWER_DELAY_SECONDS = 30.0
# handle_DATA's answer that means: close the connection without a reply.
_DROP = "DROP"

LOGIN_HEADER = "X-Sandbox-Login"
MAIL_FROM_HEADER = "X-Sandbox-Mail-From"
RCPT_TO_HEADER = "X-Sandbox-Rcpt-To"
RECEIVED_AT_HEADER = "X-Sandbox-Received-At"

# aiosmtpd enforces data_size_limit itself (which keeps memory bounded while it reads
# DATA) but answers with these fixed texts; providers answer with the enhanced code.
_AIOSMTPD_SIZE_REPLIES = frozenset(
    {
        "552 Error: message size exceeds fixed maximum message size",
        "552 Error: Too much mail data",
    }
)


class SlidingWindowLimiter:
    """At most `limit` events per key in any `window` seconds."""

    def __init__(
        self,
        limit: int,
        window: float = RATE_WINDOW_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window = window
        self.clock = clock
        self._events: defaultdict[str, deque[float]] = defaultdict(deque)

    def allows(self, key: str) -> bool:
        events = self._events[key]
        horizon = self.clock() - self.window
        while events and events[0] <= horizon:
            events.popleft()
        return len(events) < self.limit

    def record(self, key: str) -> None:
        self._events[key].append(self.clock())


def read_messages(store: Path) -> list[EmailMessage]:
    """The messages the sandbox accepted into `store`, oldest first."""
    maildir = mailbox.Maildir(store, create=False)
    messages = [
        email.message_from_bytes(maildir.get_bytes(key), policy=policy.default)
        for key in maildir.iterkeys()
    ]
    return sorted(messages, key=lambda m: dt.datetime.fromisoformat(m[RECEIVED_AT_HEADER]))


def _login(session: Session) -> str:
    if not session.authenticated:
        return ""
    return session.auth_data.login.decode("utf-8", errors="replace")


def _contains_spam(raw: bytes) -> bool:
    """Whether a text part says SPAM_MARKER, judged on decoded content."""
    body = raw.partition(b"\r\n\r\n")[2]
    if not _ENCODED.search(raw):
        # Nothing is encoded, so the body's bytes are its text: skip parsing, which would
        # cost more than the rest of the SMTP exchange.
        return SPAM_MARKER.encode() in body
    message = email.message_from_bytes(raw, policy=policy.default)
    return any(
        SPAM_MARKER in part.get_content()
        for part in message.walk()
        if part.get_content_maintype() == "text"
    )


def _message_id(raw: bytes) -> str:
    found = _MESSAGE_ID.search(raw.partition(b"\r\n\r\n")[0])
    return found.group(1).decode("utf-8", "replace") if found else "<no Message-ID>"


def _sandbox_headers(login: str, envelope: Envelope) -> bytes:
    values = {
        LOGIN_HEADER: login,
        MAIL_FROM_HEADER: envelope.mail_from,
        RCPT_TO_HEADER: ", ".join(envelope.rcpt_tos),
        RECEIVED_AT_HEADER: dt.datetime.now(dt.UTC).isoformat(timespec="microseconds"),
    }
    # The policy folds long values and encodes non-ASCII ones (a UTF-8 login or address)
    # as RFC 2047 words, so the prepended lines are valid whatever the client sent.
    return b"".join(
        policy.default.fold(name, value).encode("ascii") for name, value in values.items()
    )


def valid_login(login: str) -> bool:
    """Whether a login can name a folder of the inboxes' root (and nothing outside it)."""
    return bool(login) and "/" not in login and "\x00" not in login and not login.startswith(".")


def _maildir(root: Path, name: str) -> mailbox.Maildir:
    """The Maildir `root/name`, made whole at once when it is new: a reader polling the root
    (an IMAP server) never sees the folder without its tmp/, new/ and cur/."""
    path = root / name
    if not path.exists():
        draft = Path(tempfile.mkdtemp(prefix=".new-", dir=root))
        for folder in ("tmp", "new", "cur"):
            (draft / folder).mkdir()
        try:
            draft.rename(path)
        except OSError:  # made meanwhile by another writer
            shutil.rmtree(draft)
    return mailbox.Maildir(path, create=False)


class _Handler:
    """The sandbox's rules, shared by the sessions (all run in the server's one thread)."""

    def __init__(
        self,
        maildir: mailbox.Maildir,
        limiter: SlidingWindowLimiter,
        slow_data_seconds: float,
        greeting_delay_seconds: float = 0,
        inboxes: Path | None = None,
        answer_delay_seconds: float = DEFAULT_ANSWER_DELAY_SECONDS,
        oauth_url: str = "",
    ) -> None:
        self.oauth_url = oauth_url
        self.maildir = maildir
        self.limiter = limiter
        self.slow_data_seconds = slow_data_seconds
        self.greeting_delay_seconds = greeting_delay_seconds
        self.inboxes = inboxes
        self.answer_delay_seconds = answer_delay_seconds
        # The first connection is aiosmtpd's own warm-up, which reads the greeting.
        self.warmed_up = False
        # Successful sign-ins: how often a client had to connect and authenticate.
        self.logins = 0

    def authenticate(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        mechanism: str,
        auth_data: LoginPassword,
    ) -> AuthResult:
        if auth_data.password == REFUSED_PASSWORD.encode():
            login = auth_data.login.decode("utf-8", errors="replace")
            log.info("refused AUTH %s login=%r: %s", mechanism, login, AUTH_INVALID)
            # handled=False: aiosmtpd then sends `message` itself (handled=True would mean
            # this function already replied, and the client would wait forever).
            return AuthResult(success=False, handled=False, message=AUTH_INVALID)
        self.logins += 1
        return AuthResult(success=True, auth_data=auth_data)

    async def auth_XOAUTH2(self, server: SMTP, args: list[str]) -> AuthResult:
        """SASL XOAUTH2: the client's initial response, or its answer to an empty challenge."""
        if len(args) == 2:
            try:
                blob = base64.b64decode(args[1], validate=True)
            except binascii.Error:
                return AuthResult(
                    success=False, handled=False, message="501 5.5.2 Cannot decode base64"
                )
        else:
            blob = await server.challenge_auth("")
            if blob is MISSING:
                return AuthResult(success=False, handled=True)
        fields = dict(
            part.split("=", 1)
            for part in blob.decode("utf-8", "replace").split("\x01")
            if "=" in part
        )
        user = fields.get("user", "")
        token = fields.get("auth", "").removeprefix("Bearer ")
        flavour = flavour_of_token(token)
        if token and await asyncio.to_thread(
            self._token_signs_in, flavour.path("introspect"), token, user
        ):
            self.logins += 1
            return AuthResult(success=True, auth_data=LoginPassword(user.encode(), b""))
        log.info("refused AUTH XOAUTH2 login=%r (%s token)", user, flavour.name)
        if flavour is GOOGLE:
            # Gmail answers a refused token with a challenge carrying the reason, and its
            # refusal only once the client has answered it (with an empty line).
            if await server.challenge_auth(GMAIL_XOAUTH2_CHALLENGE) is MISSING:
                return AuthResult(success=False, handled=True)
            return AuthResult(success=False, handled=False, message=GMAIL_XOAUTH2_REFUSED)
        return AuthResult(success=False, handled=False, message=MICROSOFT_XOAUTH2_REFUSED)

    def _token_signs_in(self, path: str, token: str, user: str) -> bool:
        """Whether the OAuth sandbox says the token is active and was given by `user`."""
        if not self.oauth_url:
            return False
        client = ":".join(INTROSPECTION_CLIENT).encode()
        request = urllib.request.Request(
            self.oauth_url + path,
            data=urllib.parse.urlencode({"token": token}).encode(),
            headers={"Authorization": f"Basic {base64.b64encode(client).decode()}"},
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                answer = json.load(response)
        except (OSError, ValueError) as error:
            log.info("OAuth sandbox unreachable at %s: %s", self.oauth_url, error)
            return False
        return bool(answer.get("active")) and answer.get("username", "").lower() == user.lower()

    async def handle_MAIL(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        mail_options: list[str],
    ) -> str:
        login = _login(session)
        if not self.limiter.allows(login):
            log.info("refused login=%r from=%r: %s", login, address, TOO_BUSY)
            return TOO_BUSY
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        reply = RECIPIENT_REPLIES.get(address.rpartition("@")[2].lower())
        if reply is not None:
            log.info(
                "refused login=%r from=%r to=%r: %s",
                _login(session),
                envelope.mail_from,
                address,
                reply,
            )
            return reply
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        login = _login(session)
        raw = envelope.original_content
        summary = (
            f"{_message_id(raw)} login={login!r} "
            f"from={envelope.mail_from!r} to={envelope.rcpt_tos!r}"
        )
        if not self.limiter.allows(login):
            log.info("refused %s: %s", summary, TOO_BUSY)
            return TOO_BUSY
        if _contains_spam(raw):
            log.info("refused %s: %s", summary, SPAM)
            return SPAM
        self.limiter.record(login)
        # Prepended to the bytes as received rather than set on the parsed message, which
        # would re-fold and re-encode it: the stored message is the one that was sent.
        content = raw.replace(b"\r\n", b"\n")
        self.maildir.add(_sandbox_headers(login, envelope) + content)
        log.info("accepted %s", summary)
        self._answer_later(login or envelope.mail_from, envelope, content)
        domains = {address.rpartition("@")[2].lower() for address in envelope.rcpt_tos}
        if DROP_DATA_DOMAIN in domains:
            return _DROP
        if SLOW_DATA_DOMAIN in domains:
            await asyncio.sleep(self.slow_data_seconds)
        return ACCEPTED

    def _answer_later(self, owner: str, envelope: Envelope, content: bytes) -> None:
        loop = asyncio.get_running_loop()
        for rcpt in envelope.rcpt_tos:
            later = ANSWER_LATER.get(rcpt.rpartition("@")[2].lower())
            if later is not None and self.inboxes is not None:
                loop.call_later(
                    self.answer_delay_seconds,
                    self._deliver_answer,
                    later,
                    owner,
                    envelope.mail_from,
                    rcpt,
                    content,
                )

    def _deliver_answer(
        self, later: tuple[str, Writer], owner: str, sender: str, rcpt: str, content: bytes
    ) -> None:
        kind, write = later
        assert self.inboxes is not None
        # A login is a folder name here: one that could leave the root gets nothing.
        if not valid_login(owner):
            log.info("no mailbox for login %r: %s from %s not delivered", owner, kind, rcpt)
            return
        answer = write(content, sender=sender, rcpt=rcpt, now=dt.datetime.now(dt.UTC))
        _maildir(self.inboxes, owner).add(answer)
        log.info("answered %s to %s: %s delivered to %s", _message_id(content), rcpt, kind, owner)


class _SandboxSMTP(SMTP):
    """aiosmtpd's protocol, with the providers' size reply, the close after a 421, and a
    greeting as late as the sandbox says."""

    async def _handle_client(self) -> None:
        handler = self.event_handler
        if handler.warmed_up and handler.greeting_delay_seconds:
            try:
                await asyncio.sleep(handler.greeting_delay_seconds)
            except asyncio.CancelledError:  # the client gave up waiting: hang up too
                if self.transport is not None:
                    self.transport.close()
                raise
        handler.warmed_up = True
        await super()._handle_client()

    async def push(self, status: str | bytes) -> None:
        if status == _DROP:
            if self.transport is not None:
                self.transport.close()
            return
        if status in _AIOSMTPD_SIZE_REPLIES:
            log.info(
                "refused login=%r from=%r: %s",
                _login(self.session),
                self.envelope.mail_from,
                TOO_LARGE,
            )
            status = TOO_LARGE
        await super().push(status)
        # 421 means the server is closing the transmission channel (RFC 5321 3.8).
        if isinstance(status, str) and status.startswith("421") and self.transport is not None:
            self.transport.close()


class _Controller(Controller):
    def factory(self) -> SMTP:
        return _SandboxSMTP(self.handler, **self.SMTP_kwargs)

    def _trigger_server(self) -> None:
        # Port 0 lets the OS pick a free port without a race. aiosmtpd's Controller then
        # connects to self.port to warm the server up, so learn the real port first.
        assert self.server is not None
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


def _self_signed_tls_context(name: str) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    # The ssl module loads a certificate only from files: write them to a private folder
    # dropped once loaded.
    with tempfile.TemporaryDirectory() as folder:
        certificate_path, key_path = Path(folder) / "certificate.pem", Path(folder) / "key.pem"
        write_self_signed(name, certificate_path, key_path)
        context.load_cert_chain(certificate_path, key_path)
    return context


class SmtpSandbox(BackgroundServer):
    """The sandbox server, run in a thread of this process.

    `start()` returns once it listens; with `port=0` the OS picks a free port, then
    `port` is the real one. Also a context manager (start on enter, stop on exit).
    """

    def __init__(
        self,
        *,
        store: Path,
        host: str = "127.0.0.1",
        port: int = 0,
        max_size: int = DEFAULT_MAX_SIZE,
        rate: int = DEFAULT_RATE,
        smtputf8: bool = False,
        slow_data_seconds: float = DEFAULT_SLOW_DATA_SECONDS,
        greeting_delay_seconds: float = 0,
        inboxes: Path | None = None,
        answer_delay_seconds: float = DEFAULT_ANSWER_DELAY_SECONDS,
        oauth_url: str = "",
    ) -> None:
        self.oauth_url = oauth_url
        self.store = Path(store)
        # The senders' own mailboxes, where answers that come later land (none: not sent).
        self.inboxes = Path(inboxes) if inboxes is not None else None
        self.answer_delay_seconds = answer_delay_seconds
        self.host = host
        self.port = port
        self.max_size = max_size
        self.rate = rate
        self.smtputf8 = smtputf8
        self.slow_data_seconds = slow_data_seconds
        self.greeting_delay_seconds = greeting_delay_seconds
        self._controller: _Controller | None = None
        self._handler: _Handler | None = None

    def start(self) -> None:
        # mailbox.Maildir(create=True) makes tmp/new/cur only when the folder itself is
        # missing; the store may be an existing empty folder (pytest's tmp_path).
        for folder in ("tmp", "new", "cur"):
            (self.store / folder).mkdir(parents=True, exist_ok=True)
        if self.inboxes is not None:
            self.inboxes.mkdir(parents=True, exist_ok=True)
        handler = _Handler(
            mailbox.Maildir(self.store, create=False),
            SlidingWindowLimiter(self.rate),
            self.slow_data_seconds,
            self.greeting_delay_seconds,
            self.inboxes,
            self.answer_delay_seconds,
            self.oauth_url,
        )
        controller = _Controller(
            handler,
            hostname=self.host,
            port=self.port,
            server_hostname=SERVER_NAME,
            data_size_limit=self.max_size,
            authenticator=handler.authenticate,
            auth_require_tls=False,
            tls_context=_self_signed_tls_context(SERVER_NAME),
            enable_SMTPUTF8=self.smtputf8,
        )
        controller.start()
        self._controller = controller
        self._handler = handler
        self.port = controller.port

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def messages(self) -> list[EmailMessage]:
        return read_messages(self.store)

    @property
    def logins(self) -> int:
        """Sign-ins accepted since start."""
        return self._handler.logins if self._handler is not None else 0
