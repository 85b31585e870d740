"""A private Postfix instance playing a sales rep's mailbox server, for tests.

Debian's `postfix` package, run from a folder of its own: its main.cf and master.cf, queue,
data, SASL database and log all live under `directory` (a pytest tmp dir); the system's
/etc/postfix configuration is never read for settings (only the package's read-only
metadata there), nothing listens on port 25, and several instances run side by side.

The instance listens on a free loopback port for SMTP submission with AUTH PLAIN/LOGIN
against its own Cyrus sasldb, and relays what it accepts to `relay_port` (the SMTP sandbox
of the tests), so that a test can count what really arrived. Options make it refuse the way
a real Postfix does: recipients by an access map, the client by another, too much mail by
its rate limit (anvil); or offer no AUTH at all, or only implicit TLS with a self-signed
certificate.

The master daemon runs in the foreground as a child process of the tests (`master -s`, what
`postfix start-fg` runs), so that stopping it is a SIGTERM to a process we own; it is a
session leader and all Postfix daemons stay in its process group, which `stop()` waits to
be empty.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from sandboxes.background import BackgroundServer
from sandboxes.certificates import write_self_signed

MASTER = "/usr/lib/postfix/sbin/master"
SASLPASSWD2 = "/usr/sbin/saslpasswd2"
HOST = "127.0.0.1"
# The name Postfix greets with and signs its Received: headers with. Not the sandbox's
# (smtp-sandbox.test): an SMTP client greeted with its own name reports "mail loops back".
HOSTNAME = "postfix-peer.test"
MAIL_OWNER = "postfix"
SETGID_GROUP = "postdrop"
START_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0

# The queue folders, with their owners and modes as the package's postfix-files makes them
# (`postfix check` would create them too, but also inspects the system's files; the queue
# manager needs them all, the master needs pid/, private/ and public/ for its sockets).
_QUEUE_FOLDERS = {
    "active": (MAIL_OWNER, None, 0o700),
    "bounce": (MAIL_OWNER, None, 0o700),
    "corrupt": (MAIL_OWNER, None, 0o700),
    "defer": (MAIL_OWNER, None, 0o700),
    "deferred": (MAIL_OWNER, None, 0o700),
    "flush": (MAIL_OWNER, None, 0o700),
    "hold": (MAIL_OWNER, None, 0o700),
    "incoming": (MAIL_OWNER, None, 0o700),
    "saved": (MAIL_OWNER, None, 0o700),
    "trace": (MAIL_OWNER, None, 0o700),
    "maildrop": (MAIL_OWNER, SETGID_GROUP, 0o730),
    "private": (MAIL_OWNER, None, 0o700),
    "public": (MAIL_OWNER, SETGID_GROUP, 0o710),
    "pid": ("root", None, 0o755),
}

# The daemons this instance needs (no local delivery, no pickup: mail only comes by SMTP).
# Every one runs without chroot: a chroot would need copies of /etc files in the queue.
# Columns: service type private unprivileged chroot wakeup maxproc command.
_SERVICES = """\
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


class Postfix(BackgroundServer):
    """One private Postfix instance; `start()` returns once it accepts connections.

    users: login → password for SMTP AUTH (logins with a realm, `rita@example.test`, as
        the mailboxes use); None for a server that offers no AUTH at all, which then relays
        for any loopback client, like a relay on a trusted network.
    recipient_replies: address (or domain) → what RCPT TO answers, an access map action
        such as "550 5.1.1 User unknown" (Postfix prefixes "<address>: Recipient address
        rejected:" to the text).
    client_replies: client address (e.g. "127.0.0.1") → access map action for the client,
        such as "REJECT" (554 5.7.1 ...: Client host rejected: Access denied), answered
        at RCPT TO.
    message_rate_limit: MAIL FROM commands allowed per client address per minute; more get
        "450 4.7.1 Error: too much mail from 127.0.0.1". None: no limit.
    tls: implicit TLS (SMTPS, as on port 465) with a self-signed certificate.
    """

    def __init__(
        self,
        directory: Path,
        *,
        relay_port: int,
        users: dict[str, str] | None = None,
        recipient_replies: dict[str, str] | None = None,
        client_replies: dict[str, str] | None = None,
        message_rate_limit: int | None = None,
        tls: bool = False,
    ) -> None:
        self.directory = Path(directory)
        self.relay_port = relay_port
        self.users = users
        self.recipient_replies = recipient_replies or {}
        self.client_replies = client_replies or {}
        self.message_rate_limit = message_rate_limit
        self.tls = tls
        self.host = HOST
        self.port = 0
        self.certificate_path = self.directory / "certificate.pem"
        self._process: subprocess.Popen[bytes] | None = None
        # The master's process ID, also its process group's (kept after stop()).
        self.master_pid: int | None = None

    @property
    def queue(self) -> Path:
        return self.directory / "queue"

    @property
    def log_path(self) -> Path:
        return self.directory / "maillog"

    def log(self) -> str:
        """What the instance logged so far (every daemon, through postlogd)."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    # -- Starting and stopping ------------------------------------------------------------

    def start(self) -> None:
        for program in (MASTER, SASLPASSWD2):
            if not Path(program).exists():
                # Not a skip: `make test` installs them (its `peers` target).
                raise RuntimeError(
                    f"{program} is missing: run `make peers` (apt-get install "
                    "postfix sasl2-bin libsasl2-modules)"
                )
        self._prepare()
        # The free port is found by binding port 0 and closing; another process may take
        # it before the master binds it (the master then exits): try another one.
        for _ in range(3):
            self.port = _free_port()
            self._write_master_cf()
            if self._run_master():
                return
        raise RuntimeError(
            f"Postfix did not start (`postfix -c {self.directory} check` may say why); "
            f"its log:\n{self.log()[-4000:]}"
        )

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            stop_master(process)

    def _run_master(self) -> bool:
        """Starts the master; True once it listens, False if it exited (when it cannot bind
        its port, it exits before it can log why)."""
        # -c: this instance's main.cf and master.cf (passed on to every daemon);
        # -s: stay in the foreground, as `postfix start-fg` does when not PID 1.
        process = subprocess.Popen(
            [MASTER, "-c", str(self.directory), "-s"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self._process = process
        self.master_pid = process.pid
        # The master logs this once it has bound every socket of master.cf. Not a test
        # connection: whoever took the port would answer it.
        started = f"postfix/master[{process.pid}]: daemon started"
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if process.poll() is not None:
                self._process = None
                return False
            if started in self.log():
                return True
            time.sleep(0.01)
        self.stop()
        raise RuntimeError(f"Postfix did not start in time; its log:\n{self.log()[-4000:]}")

    # -- Configuration --------------------------------------------------------------------

    def _prepare(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        # Owned by root, like any queue directory. Every daemon chdirs into it as root,
        # then drops privileges: what it opens as the postfix user must be found relative
        # to it, since that user cannot pass pytest's private (0700) parent folders.
        self.queue.mkdir(exist_ok=True)
        self.queue.chmod(0o755)
        for name, (owner, group, mode) in _QUEUE_FOLDERS.items():
            folder = self.queue / name
            folder.mkdir(exist_ok=True)
            shutil.chown(folder, owner, group or "root")
            folder.chmod(mode)
        data = self.queue / "data"
        data.mkdir(exist_ok=True)
        shutil.chown(data, MAIL_OWNER, MAIL_OWNER)
        data.chmod(0o700)
        _write_map(self.directory / "recipient_access", self.recipient_replies)
        _write_map(self.directory / "client_access", self.client_replies)
        if self.users is not None:
            self._write_sasl()
        if self.tls:
            write_self_signed(HOSTNAME, self.certificate_path, self.directory / "key.pem", days=1)
        (self.directory / "main.cf").write_text(self._main_cf())
        # Postfix rereads a main.cf or texthash: map modified in the last second or two
        # every 300 ms until it settles (in case an editor is still writing it): date the
        # files we just wrote in the past, or every daemon start waits that long.
        past = time.time() - 60
        for path in self.directory.iterdir():
            if path.is_file():
                os.utime(path, (past, past))

    def _write_sasl(self) -> None:
        sasl = self.directory / "sasl"
        sasl.mkdir(exist_ok=True)
        # Cyrus SASL's configuration for the application "smtpd" (smtpd_sasl_path): check
        # passwords against the sasldb (auxprop), offer only PLAIN and LOGIN (the ones
        # mailbox clients use; the library would otherwise offer CRAM-MD5, DIGEST-MD5...).
        # sasldb_path is relative: Cyrus opens it at each AUTH, when smtpd already runs as
        # the postfix user in the queue directory, and cannot reach an absolute path
        # through pytest's private folders. It is queue/sasldb2.
        (sasl / "smtpd.conf").write_text(
            "pwcheck_method: auxprop\n"
            "auxprop_plugin: sasldb\n"
            "mech_list: PLAIN LOGIN\n"
            "sasldb_path: sasldb2\n"
        )
        database = self.queue / "sasldb2"
        for login, password in self.users.items():
            user, _, realm = login.rpartition("@") if "@" in login else (login, "", HOSTNAME)
            # -p: password on stdin; -c: create the user; -u: its realm; -f: this database.
            subprocess.run(
                [SASLPASSWD2, "-p", "-c", "-f", str(database), "-u", realm, user],
                input=password.encode(),
                check=True,
            )
        if database.exists():  # not when there are no users
            shutil.chown(database, "root", MAIL_OWNER)
            database.chmod(0o640)

    def _write_master_cf(self) -> None:
        options = ""
        if self.tls:
            # TLS from the first byte (SMTPS), never plain text.
            options = "\n  -o smtpd_tls_wrappermode=yes -o smtpd_tls_security_level=encrypt"
        # The SMTP server on this port of the loopback address only (never port 25).
        listener = f"{self.host}:{self.port} inet n - n - - smtpd{options}\n"
        (self.directory / "master.cf").write_text(listener + _SERVICES)

    def _main_cf(self) -> str:
        d = self.directory
        sasl = self.users is not None
        settings = {
            # Today's defaults, without the compatibility warnings of level 0.
            "compatibility_level": "3.6",
            "queue_directory": d / "queue",
            # Relative, so in the queue directory: the master and tlsmgr open files there
            # as the postfix user, who cannot pass pytest's private (0700) folders, and
            # every daemon runs with the queue directory as its working directory.
            "data_directory": "data",
            "mail_owner": MAIL_OWNER,
            "setgid_group": SETGID_GROUP,
            # Every daemon logs to this file, through the postlog service (not to syslog).
            "maillog_file": self.log_path,
            # Postfix writes its log only under these prefixes (default: /var, /dev/stdout).
            "maillog_file_prefixes": d,
            "myhostname": HOSTNAME,
            "mydomain": HOSTNAME,
            "myorigin": HOSTNAME,
            "smtpd_banner": "$myhostname ESMTP Postfix",
            "inet_interfaces": self.host,
            "inet_protocols": "ipv4",
            # No local delivery: every recipient is remote, and goes to the relay host.
            "mydestination": "",
            "local_recipient_maps": "",
            "relay_domains": "",
            "alias_maps": "",
            "alias_database": "",
            "biff": "no",
            "append_dot_mydomain": "no",
            # Everything accepted goes to the tests' SMTP sandbox; brackets: the address
            # itself, no MX lookup.
            "relayhost": f"[{self.host}]:{self.relay_port}",
            "default_transport": "smtp",
            # Nothing here is looked up in DNS; a test machine may have no resolver.
            "smtp_dns_support_level": "disabled",
            # The sandbox offers STARTTLS with a self-signed certificate: plain on loopback.
            "smtp_tls_security_level": "none",
            "smtp_connect_timeout": "5s",
            # Deliver now and retry deferred mail within seconds (defaults: minutes).
            "queue_run_delay": "1s",
            "minimal_backoff_time": "1s",
            "maximal_backoff_time": "2s",
            # Accept as fast as the client sends: no slowing down of clients while the
            # queue manager is behind (the tests measure the client, not Postfix).
            "in_flow_delay": "0s",
            # A client that made many errors is answered at once, not after a second.
            "smtpd_error_sleep_time": "0s",
            # mynetworks is the loopback, but only the no-AUTH variant permits it to relay:
            # with AUTH, a client that did not sign in gets "554 5.7.1 <...>: Relay access
            # denied" (every destination is foreign, with no mydestination/relay_domains).
            "mynetworks": "127.0.0.0/8",
            "smtpd_relay_restrictions": (
                f"{'permit_sasl_authenticated' if sasl else 'permit_mynetworks'}, "
                "reject_unauth_destination"
            ),
            # With smtpd_delay_reject (the default), a refused client is answered at RCPT
            # TO, after AUTH, as real servers do.
            "smtpd_client_restrictions": f"check_client_access texthash:{d / 'client_access'}",
            "smtpd_recipient_restrictions": (
                f"check_recipient_access texthash:{d / 'recipient_access'}"
            ),
            # anvil counts MAIL FROM per client address per anvil_rate_time_unit (60s);
            # the exceptions default to $mynetworks (the loopback): none, so it is limited.
            "smtpd_client_message_rate_limit": self.message_rate_limit or 0,
            "smtpd_client_event_limit_exceptions": "",
            "smtpd_sasl_auth_enable": "yes" if sasl else "no",
            # Cyrus SASL, configured by sasl/smtpd.conf (smtpd_sasl_path = smtpd).
            "smtpd_sasl_type": "cyrus",
            "smtpd_sasl_path": "smtpd",
            "cyrus_sasl_config_path": d / "sasl",
            # AUTH without TLS is fine on loopback (noanonymous: no anonymous logins).
            "smtpd_sasl_security_options": "noanonymous",
            "smtpd_tls_auth_only": "no",
        }
        if self.tls:
            settings |= {
                "smtpd_tls_cert_file": self.certificate_path,
                "smtpd_tls_key_file": d / "key.pem",
            }
        return "".join(f"{name} = {value}\n" for name, value in settings.items())


def _write_map(path: Path, entries: dict[str, str]) -> None:
    # texthash: read as it is when a daemon starts, no postmap needed.
    path.write_text("".join(f"{key} {value}\n" for key, value in entries.items()))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def stop_master(process: subprocess.Popen) -> None:
    """Stop a mail server's master process and every daemon of its process group."""
    # SIGTERM to the master: it sends SIGTERM to its process group (every daemon it
    # started) and exits.
    process.terminate()
    try:
        process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    # Daemons may outlive the master for a moment: wait for them to end.
    deadline = time.monotonic() + STOP_TIMEOUT
    while group_alive(process.pid):
        if time.monotonic() > deadline:
            os.killpg(process.pid, signal.SIGKILL)
            break
        time.sleep(0.02)


def group_alive(pgid: int) -> bool:
    """Whether a process of this process group still runs (zombies do not count: the
    daemons outlive the master as zombies until init reaps them, up to a second later)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:  # the process ended meanwhile
            continue
        # After "pid (command)": state, ppid, pgrp.
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False
