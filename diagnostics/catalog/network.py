"""Connection-level failures, as each stack words them: no reply from a server to read.

Python (smtplib, socket, ssl), Node (nodemailer's ECONNREFUSED, ETIMEDOUT, ENOTFOUND,
EAI_AGAIN, "Greeting never received"), Java (javax/jakarta.mail MessagingException,
MailConnectException, UnknownHostException), .NET (SmtpException, SocketException, MailKit)
Windows (WSAECONNREFUSED, socket errors 10060/10061), Go's net package ("dial tcp: lookup …",
"i/o timeout") and PHPMailer ("SMTP connect() failed"). They come before the SMTP
families because a stack trace quotes words that those would misread (a Node error object
has `code: 'ESOCKET'`, a .NET one "Failure sending mail").

Sources: tests/diagnostics/data/real-world-errors.jsonl (each case names its GitHub issue).
"""

from __future__ import annotations

import dataclasses

from diagnostics.catalog.entry import Entry
from diagnostics.catalog.pipeline import DELIVERY_UNCERTAIN
from diagnostics.vocabulary import Category as C
from diagnostics.vocabulary import Fix as F

ENTRIES: tuple[Entry, ...] = (
    # First: a connection lost after the message was handed over may have delivered it.
    # Its title, side, fixes and next steps are the pipeline's own "delivery uncertain".
    dataclasses.replace(
        DELIVERY_UNCERTAIN,
        code="smtp.delivery_uncertain",
        match=r"message may be sent more than once|while sending end of data",
        explanation="The server lost the connection after the message was handed to it, "
        "before it confirmed. It was probably delivered, so it is not sent again by itself: "
        "that could give the contact two copies.",
        examples=(
            "2017-11-20T23:33:33.470014+00:00 mail postfix/smtp[21530]: 84FC51F660C: "
            "to=<xxx.xxxx@tiscali.it>, relay=etb-3.mail.tiscali.it[213.205.33.64]:25, "
            "delay=376571, delays=376442/0.02/79/50, dsn=4.4.2, status=deferred (lost "
            "connection with etb-3.mail.tiscali.it[213.205.33.64] while sending end of data -- "
            "message may be sent more than once)",
        ),
        source="Postfix log, github.com/hardware/mailserver/issues/195",
    ),
    Entry(
        "network.name_resolution",
        C.TEMPORARY_FAILURE,
        "The mail server's name could not be resolved",
        match=r"enotfound|eai_again|getaddrinfo|name or service not known|unknownhostexception"
        r"|unknown smtp host|no such host is known|temporary failure in name resolution"
        r"|nodename nor servname|name resolution"
        # Node's DNS errors (c-ares codes), wrapped by nodemailer as `code: 'EDNS'`.
        r"|edns|eservfail|erefused|etimeout|enodata|econnrefused smtp"
        # Go's resolver: "dial tcp: lookup smtp.example.com: no such host".
        r"|dial tcp: lookup",
        fixes=(F.RESYNC_MAILBOX,),
        explanation="The name of the mailbox's SMTP server could not be looked up in DNS "
        "(a DNS outage, or a mistyped host name). The email is retried; if it keeps failing, "
        "check the mailbox's SMTP host.",
        next_steps=(
            "Nothing to do if DNS was briefly down.",
            "If it lasts, check the mailbox's SMTP host name, then Resynchronize.",
        ),
        examples=(
            "{ [Error: getaddrinfo EAI_AGAIN west.exch032.serverdata.net:587]\n"
            "  code: 'EAI_AGAIN',\n  errno: 'EAI_AGAIN',\n  syscall: 'getaddrinfo',\n"
            "  hostname: 'west.exch032.serverdata.net',\n  host: 'west.exch032.serverdata.net',\n"
            "  port: 587 }",
            "javax.mail.MessagingException: Unknown SMTP host: smtp.gmail.com;\n"
            "  nested exception is:\n\tjava.net.UnknownHostException: smtp.gmail.com",
            "gaierror: [Errno -2] Name or service not known",
            "Error: queryA EREFUSED smtp.office365.com\nat QueryReqWrap.onresolve [as "
            "oncomplete] (dns.js:203:19) { \nerrno: 'EREFUSED', \ncode: 'EDNS',\nsyscall: "
            "'queryA',\n hostname: 'smtp.office365.com',\ncommand: 'CONN'\n}",
        ),
        source="nodemailer, github.com/nodemailer/nodemailer/issues/1371; nodemailer, "
        "github.com/nodemailer/nodemailer/issues/679; JavaMail, "
        "github.com/tntkhang/gmail-sender-helper/issues/6; Python smtplib, "
        "github.com/Chronial/snapraid-runner/issues/7",
    ),
    # A certificate the client refuses is the mailbox's TLS setup, not a server that is down,
    # though Node wraps it in the same `code: 'ESOCKET'`.
    Entry(
        "network.tls_certificate",
        C.ACCOUNT_SETUP,
        "The mail server's certificate is not trusted",
        # Node's wording only: Python's "certificate verify failed" stays words.py's.
        match=r"self signed certificate in certificate chain"
        r"|self-signed certificate in certificate chain|unable to verify the first certificate"
        r"|cert_has_expired|err_tls_cert_altname_invalid|self_signed_cert_in_chain",
        fixes=(F.ADMIN_SETUP, F.RESYNC_MAILBOX),
        explanation="The mailbox's SMTP server presented a certificate that is not trusted "
        "(self-signed, expired or for another host), so we did not send. An admin must fix "
        "the server's certificate or the mailbox's SMTP host.",
        examples=(
            "{ Error: self signed certificate in certificate chain\n    at "
            "TLSSocket.onConnectSecure (_tls_wrap.js:1055:34)\n    at TLSSocket.emit "
            "(events.js:198:13)\n    at TLSSocket._finishInit (_tls_wrap.js:633:8) code: "
            "'ESOCKET', command: 'CONN' }",
        ),
        source="nodemailer, github.com/nodemailer/nodemailer/issues/1040",
    ),
    Entry(
        "network.unreachable",
        C.TEMPORARY_FAILURE,
        "The mail server could not be reached",
        match=r"econnrefused|econnreset|etimedout|esocket|enetunreach|ehostunreach"
        r"|wsaeconnrefused|wsaetimedout|connect timed out|actively refused|active rejection"
        r"|did not properly respond|failed to respond|greeting never received"
        r"|could not connect to smtp host"
        r"|couldn't connect to host|unable to connect to the remote server"
        r"|unable to read data from the transport connection|network is unreachable"
        r"|no route to host|lost connection with|socket error code 1006[01]"
        r"|unexpectedly disconnected|opentimeout|readtimeout|socket hang up"
        r"|expected response code \d+ but got code \"\"|but got an empty response"
        r"|committed a protocol violation|please run connect\(\) first"
        # Socket errors by their POSIX names and by the Windows texts of WSAECONNRESET
        # (10054) and WSAECONNABORTED (10053).
        r"|eaddrnotavail|econnaborted|epipe|forcibly closed by the remote host"
        r"|aborted by the software in your host machine"
        r"|unable to write data to the transport connection"
        # PHPMailer's, and Go's net package's.
        r"|smtp connect\(\) failed|i/o timeout",
        fixes=(F.RESYNC_MAILBOX,),
        explanation="The mail server refused, dropped or did not answer the connection, so "
        "nothing was sent. The email is retried automatically; if it keeps failing, check "
        "the mailbox's SMTP host and port.",
        next_steps=(
            "Nothing to do if the server was briefly down.",
            "If it lasts, check the mailbox's SMTP host and port, then Resynchronize.",
        ),
        examples=(
            "Error: connect ECONNREFUSED 10.0.0.1:587\n"
            "    at TCPConnectWrap.afterConnect [as oncomplete] (node:net:1494:16) {\n"
            "  errno: -111,\n  code: 'ESOCKET',\n  syscall: 'connect',\n  address: '10.0.0.1',\n"
            "  port: 587,\n  command: 'CONN'\n}",
            "System.Net.Sockets.SocketException (10060): A connection attempt failed because the "
            "connected party did not properly respond after a period of time, or established "
            "connection failed because connected host has failed to respond.",
            "ConnectionRefusedError: [WinError 10061] No connection could be made because the "
            "target machine actively refused it",
            "javax.mail.MessagingException: Could not connect to SMTP host: smtp.gmail.com, port: "
            "465",
            "Error: Greeting never received",
            "4.4.316 Connection refused [Message=Socket error code 10061]",
            "Exception message: The SMTP server has unexpectedly disconnected.",
            "**Net::OpenTimeout** in **ActionMailer::MailDeliveryJob@default**\nexecution expired",
            'Swift_TransportException Expected response code 220 but got code "", with message ""',
            "The server committed a protocol violation The server response was: ",
            "SMTPServerDisconnected: please run connect() first",
            "System.IO.IOException: An existing connection was forcibly closed by the remote "
            "host ---> System.Net.Sockets.SocketException: An existing connection was forcibly "
            "closed by the remote host",
            "{ [Error: connect EADDRNOTAVAIL]\n  code: 'EADDRNOTAVAIL',\n  errno: "
            "'EADDRNOTAVAIL',\n  syscall: 'connect' }",
        ),
        source="MailKit, github.com/jstedfast/MailKit/issues/1414; nodemailer, "
        "github.com/nodemailer/nodemailer/issues/298; nodemailer, "
        "github.com/nodemailer/nodemailer/issues/1538 and /issues/928; "
        "MailKit, github.com/jstedfast/MailKit/issues/1682; Python, "
        "github.com/qoda/python-mailer/issues/6; JavaMail, "
        "github.com/yesidlazaro/GmailBackground/issues/11; Exchange Online NDRs; MailKit, "
        "github.com/jstedfast/MailKit/issues/194; ActionMailer, "
        "github.com/osunyorg/admin/issues/2745; SwiftMailer, "
        "github.com/laravel/framework/issues/21455; .NET SmtpClient, "
        "github.com/jstedfast/MailKit/issues/393; Python smtplib, "
        "github.com/git-multimail/git-multimail/issues/136",
    ),
)
