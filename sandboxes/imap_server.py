"""A local IMAP server for the senders' own mailboxes the SMTP sandbox answers into.

`make run` serves the Maildirs of `<root>/<login>/` (Maildir++: the folder itself is INBOX)
with pymap's Maildir backend, so that whatever reads a mailbox over IMAP reads what the
SMTP sandbox's later answers put there (bounces, replies, out-of-offices, complaints).

Why pymap rather than Dovecot here: it installs from PyPI with the rest (pure Python, two
small dependencies), runs as the developer in this process without a configuration file
or root, and keeps Dovecot's Maildir layout (its `dovecot-uidlist` keeps UIDs and
UIDVALIDITY across restarts). The tests' IMAP peer may be Dovecot itself; this one is the
demo's.

Sign-in is the SMTP sandbox's rule: the password `wrong` is refused, any other accepted;
the login names the folder (a login that could leave the root is refused). A login with
no folder yet signs in to an empty INBOX. No TLS: it listens on loopback.
"""

from __future__ import annotations

import asyncio
import threading
from argparse import Namespace
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

from proxyprotocol.reader import ProxyProtocolReader
from pymap.backend.maildir import (
    Config,
    FilterSet,
    Identity,
    Login,
    MailboxSet,
    MaildirBackend,
    Session,
)
from pymap.exceptions import AuthorizationFailure, InvalidAuth
from pymap.imap import IMAPServer
from pymap.interfaces.login import IdentityInterface
from pysasl.creds.server import ServerCredentials

from sandboxes.background import BackgroundServer
from sandboxes.smtp_server import REFUSED_PASSWORD, valid_login

SERVER_NAME = "imap-sandbox.test"


class _Secret:
    """What pysasl checks a sign-in against: any password but the refused one."""

    def __init__(self, login: str) -> None:
        self.login = login

    def compare_authcid(self, authcid: str) -> bool:
        return authcid == self.login

    def compare_secret(self, secret: str) -> bool:
        return secret != REFUSED_PASSWORD

    def get_clear_secret(self) -> None:
        return None


class _Config(Config):
    @property
    def greeting(self) -> bytes:
        # pymap's default looks up this host's name at every connection.
        return b"Server ready " + SERVER_NAME.encode()


class _Identity(Identity):
    @asynccontextmanager
    async def new_session(self) -> AsyncIterator[Session]:
        # The folder is the login's own: no users file to look it up in.
        maildir, layout = self._load_maildir(self.name)
        yield Session(self.name, self.config, MailboxSet(maildir, layout), FilterSet(layout.path))


class _Login(Login):
    async def authenticate(self, credentials: ServerCredentials) -> Identity:
        login = credentials.authcid
        if not valid_login(login) or not credentials.verify(_Secret(login)):
            raise InvalidAuth()
        return _Identity(self.config, self.tokens, login, None, set())

    async def authorize(self, authenticated: IdentityInterface, authzid: str) -> Identity:
        # Signed in as oneself only (pymap's own would look the login up in a users file).
        if authzid != authenticated.name or not isinstance(authenticated, _Identity):
            raise AuthorizationFailure()
        return authenticated


def _arguments(root: Path) -> Namespace:
    """pymap's command-line options, as its Maildir backend reads them."""
    return Namespace(
        host=None,
        port=None,
        debug=False,
        cert=None,
        key=None,
        tls=False,
        passlib_cfg=None,
        proxy_protocol=None,
        inherited_sockets=None,
        concurrency=None,
        base_dir=str(root),
        layout="++",
        colon=None,
    )


class ImapSandbox(BackgroundServer):
    """pymap in a thread of this process; `port=0` picks a free port (then `port` is it)."""

    def __init__(self, *, root: Path, host: str = "127.0.0.1", port: int = 0) -> None:
        self.root = Path(root)
        self.host = host
        self.port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stack: AsyncExitStack | None = None
        self._server: asyncio.Server | None = None

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._serve(), self._loop).result(timeout=30)

    async def _serve(self) -> None:
        config = _Config.from_args(_arguments(self.root))
        config.apply_context()
        backend = MaildirBackend(_Login(config), config)
        self._stack = AsyncExitStack()
        await backend.start(self._stack)
        callback = ProxyProtocolReader(config.proxy_protocol).get_callback(
            IMAPServer(backend.login, config)
        )
        self._server = await asyncio.start_server(callback, host=self.host, port=self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _close(self) -> None:
        assert self._server is not None
        assert self._stack is not None
        self._server.close()
        # Sessions still open (an IMAP client idling) end with the server.
        self._server.close_clients()
        await self._server.wait_closed()
        await self._stack.aclose()
        sessions = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in sessions:
            task.cancel()
        await asyncio.gather(*sessions, return_exceptions=True)

    def stop(self) -> None:
        if self._loop is None:
            return
        if self._server is not None:
            asyncio.run_coroutine_threadsafe(self._close(), self._loop).result(timeout=10)
            self._server = None
        self._loop.call_soon_threadsafe(self._loop.stop)
        assert self._thread is not None
        self._thread.join(timeout=10)
        self._loop.close()
        self._loop = None
