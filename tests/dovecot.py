"""A private Dovecot instance serving sales reps' mailboxes over IMAP, for tests.

Debian's `dovecot-imapd`, run from a folder of its own (its dovecot.conf, run and state
folders, passwd-file and log): the system's /etc/dovecot is never read, nothing listens
on 143 or 993, and several instances run side by side. Each user's mail is a Maildir++
under `root`: `<root>/<login>/{cur,new,tmp}`, folders as `.Junk`, `.Sent`, as the SMTP
sandbox's answers-later writes them. Tests put real-format messages there with
`deliver()`, and read them back through IMAP as the product does.

The instance listens on a free loopback port for plain IMAP (LOGIN and AUTHENTICATE PLAIN
allowed without TLS on loopback) and on another for implicit TLS (a self-signed
certificate, `certificate_path`). The master runs in the foreground as a child process
(`dovecot -F`), stopped with SIGTERM.

As root, Dovecot runs its login processes as `dovenull` and reads mail as `nobody` (mail
as root is refused); as another user, everything runs as that user. The folder lives under
the system's temporary folder, not pytest's private (0700) one, which those users cannot
pass.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from sandboxes.background import BackgroundServer
from sandboxes.certificates import write_self_signed
from tests.postfix import _free_port, stop_master

DOVECOT = "/usr/sbin/dovecot"
HOST = "127.0.0.1"
HOSTNAME = "dovecot-peer.test"
START_TIMEOUT = 15.0


class Dovecot(BackgroundServer):
    """One private Dovecot; `start()` returns once it accepts IMAP connections."""

    def __init__(self) -> None:
        self.directory: Path | None = None
        self.host = HOST
        self.port = 0
        self.tls_port = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._delivered = 0
        if os.geteuid() == 0:
            self._login_user, self._internal_user, self._mail_user = (
                "dovenull",
                "dovecot",
                "nobody",
            )
        else:
            self._login_user = self._internal_user = self._mail_user = pwd.getpwuid(
                os.geteuid()
            ).pw_name
        mail = pwd.getpwnam(self._mail_user)
        self.mail_uid, self.mail_gid = mail.pw_uid, mail.pw_gid

    @property
    def root(self) -> Path:
        return self.directory / "mail"

    @property
    def certificate_path(self) -> Path:
        return self.directory / "certificate.pem"

    @property
    def log_path(self) -> Path:
        return self.directory / "dovecot.log"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    # -- Users and their mail -------------------------------------------------------------

    def add_user(self, login: str, password: str) -> None:
        """A user with an empty INBOX. A passwd-file of its own: Dovecot opens a new file
        at once, where it would see a change to one it read within the second only later."""
        (self.directory / "users" / login).write_text(f"{login}:{{PLAIN}}{password}::::::\n")
        self.make_folder(login, "INBOX")

    def folder_path(self, login: str, folder: str = "INBOX") -> Path:
        """A folder's Maildir: INBOX is the user's own, another `.<name>` under it."""
        user = self.root / login
        return user if folder == "INBOX" else user / f".{folder}"

    def deliver(self, login: str, raw: bytes, folder: str = "INBOX") -> Path:
        """Put a message in a folder as a delivery agent does (written in tmp/, moved to
        new/), owned by the mail user."""
        path = self.make_folder(login, folder)
        self._delivered += 1
        name = f"{time.time_ns()}.P{os.getpid()}Q{self._delivered}.{HOSTNAME}"
        written = path / "tmp" / name
        written.write_bytes(raw)
        os.chown(written, self.mail_uid, self.mail_gid)
        return written.rename(path / "new" / name)

    def renumber(self, login: str, folder: str = "INBOX") -> None:
        """Make Dovecot number a folder's messages anew, with a new UIDVALIDITY: what a
        server does when a folder is recreated or its index lost."""
        # Not dovecot-uidvalidity: from it, Dovecot gives the next folder a new value.
        path = self.folder_path(login, folder)
        for index in (*path.glob("dovecot.index*"), path / "dovecot-uidlist"):
            index.unlink(missing_ok=True)

    def make_folder(self, login: str, folder: str) -> Path:
        """A folder (its Maildir), empty if new, owned by the mail user."""
        path = self.folder_path(login, folder)
        for owned in (self.root / login, path, path / "cur", path / "new", path / "tmp"):
            if not owned.is_dir():
                owned.mkdir()
                os.chown(owned, self.mail_uid, self.mail_gid)
        return path

    # -- Starting and stopping ------------------------------------------------------------

    def start(self) -> None:
        if not Path(DOVECOT).exists():
            # Not a skip: `make test` installs it (its `peers` target).
            raise RuntimeError(f"{DOVECOT} is missing: run `make peers` (dovecot-imapd)")
        self.directory = Path(tempfile.mkdtemp(prefix="dovecot-peer-"))
        self.directory.chmod(0o755)
        self.root.mkdir()
        os.chown(self.root, self.mail_uid, self.mail_gid)
        (self.directory / "users").mkdir()
        write_self_signed(HOSTNAME, self.certificate_path, self.directory / "key.pem", days=1)
        # The free ports are found by binding port 0 and closing; another process may
        # take one before Dovecot binds it (it then exits): try others.
        for _ in range(3):
            self.port, self.tls_port = _free_port(), _free_port()
            (self.directory / "dovecot.conf").write_text(self._config())
            if self._run():
                return
        raise RuntimeError(f"Dovecot did not start; its log:\n{self.log()[-4000:]}")

    def _run(self) -> bool:
        process = subprocess.Popen(
            [DOVECOT, "-F", "-c", str(self.directory / "dovecot.conf")],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self.log_path.open("ab"),
            start_new_session=True,
        )
        self._process = process
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if process.poll() is not None:
                self._process = None
                return False
            if "starting up for imap" in self.log():
                return True
            time.sleep(0.01)
        self.stop()
        raise RuntimeError(f"Dovecot did not start in time; its log:\n{self.log()[-4000:]}")

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            stop_master(process)
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)

    def _config(self) -> str:
        d = self.directory
        return f"""\
base_dir = {d}/run
state_dir = {d}/state
log_path = {self.log_path}
protocols = imap
listen = {self.host}
default_login_user = {self._login_user}
default_internal_user = {self._internal_user}
# Plain-text sign-in on the loopback (the sandbox's mailboxes use it, as a test peer).
disable_plaintext_auth = no
auth_mechanisms = plain login
# A refused sign-in is answered at once (default: after 2 seconds).
auth_failure_delay = 0
ssl = yes
ssl_cert = <{self.certificate_path}
ssl_key = <{d}/key.pem
mail_location = maildir:{self.root}/%u
mail_uid = {self.mail_uid}
mail_gid = {self.mail_gid}
first_valid_uid = {min(self.mail_uid, 500)}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {d}/users/%u
}}
userdb {{
  driver = static
  args = uid={self.mail_uid} gid={self.mail_gid} home={self.root}/%u
}}
namespace inbox {{
  inbox = yes
  separator = .
  mailbox Junk {{
    special_use = \\Junk
  }}
  mailbox Sent {{
    special_use = \\Sent
  }}
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = {self.host}
    port = {self.port}
  }}
  inet_listener imaps {{
    address = {self.host}
    port = {self.tls_port}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
}}
"""
