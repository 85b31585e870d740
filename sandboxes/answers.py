"""What lands in a sender's own mailbox some time after a server accepted its message.

Each writer takes the message as the sandbox received it (LF line ends) and returns a whole
message in the form real servers write it, so that whoever reads the mailbox sees the same
bytes as in production:

- `bounce`: Postfix's "Undelivered Mail Returned to Sender" (RFC 3464 multipart/report with
  message/delivery-status and the original's headers), as Postfix 3.x writes it for a
  recipient refused by the next hop after Postfix had accepted the message;
- `reply`: a person's answer (In-Reply-To and References name the original);
- `auto_reply`: an out-of-office (RFC 3834 Auto-Submitted) that says when they are back;
- `feedback`: a complaint, as mailbox providers' feedback loops send them (RFC 5965 ARF).
"""

from __future__ import annotations

import datetime as dt
import email
import email.utils
import uuid
from collections.abc import Callable
from email import policy
from email.message import EmailMessage

# The sandbox's host name in what it writes (its greeting's name).
HOST = "smtp-sandbox.test"
# How long an out-of-office says its writer is away.
AWAY_DAYS = 10
BOUNCE_REPLY = (
    "550 5.1.1 <{rcpt}>: Recipient address rejected: User unknown in local recipient table"
)


def _headers(original: bytes) -> bytes:
    return original.partition(b"\n\n")[0] + b"\n"


def _parsed(original: bytes) -> EmailMessage:
    return email.message_from_bytes(_headers(original), policy=policy.default)


def _date(now: dt.datetime) -> str:
    return email.utils.format_datetime(now)


def _message_id(now: dt.datetime) -> str:
    return f"<{now:%Y%m%d%H%M%S}.{uuid.uuid4().hex[:12]}@{HOST}>"


def _postfix_date(now: dt.datetime) -> str:
    # Postfix pads the day with a space and names the zone: "Thu,  3 Dec 2026 11:41:27 +0000 (UTC)".
    return f"{now:%a}, {now.day:2d} {now:%b %Y %H:%M:%S} +0000 (UTC)"


def bounce(original: bytes, *, sender: str, rcpt: str, now: dt.datetime) -> bytes:
    queue_id = uuid.uuid4().hex[:11].upper()
    boundary = f"{queue_id}.{int(now.timestamp())}/{HOST}"
    reply = BOUNCE_REPLY.format(rcpt=rcpt)
    domain = rcpt.rpartition("@")[2]
    text = f"""Received: by {HOST} (Postfix)
\tid {queue_id}; {_postfix_date(now)}
Date: {_postfix_date(now)}
From: Mail Delivery System <MAILER-DAEMON@{HOST}>
Subject: Undelivered Mail Returned to Sender
To: {sender}
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
\tboundary="{boundary}"
Content-Transfer-Encoding: 8bit
Message-Id: <{now:%Y%m%d%H%M%S}.{queue_id}@{HOST}>

This is a MIME-encapsulated message.

--{boundary}
Content-Description: Notification
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

This is the mail system at host {HOST}.

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients. It's attached below.

For further assistance, please send mail to postmaster.

If you do so, please include this problem report. You can
delete your own text from the attached returned message.

                   The mail system

<{rcpt}>: host mx.{domain}[192.0.2.25] said: {reply} (in reply to RCPT TO
    command)

--{boundary}
Content-Description: Delivery report
Content-Type: message/delivery-status

Reporting-MTA: dns; {HOST}
X-Postfix-Queue-ID: {queue_id}
X-Postfix-Sender: rfc822; {sender}
Arrival-Date: {_postfix_date(now)}

Final-Recipient: rfc822; {rcpt}
Original-Recipient: rfc822;{rcpt}
Action: failed
Status: 5.1.1
Remote-MTA: dns; mx.{domain}
Diagnostic-Code: smtp; {reply}

--{boundary}
Content-Description: Undelivered Message Headers
Content-Type: text/rfc822-headers
Content-Transfer-Encoding: 8bit

"""
    return text.encode() + _headers(original) + f"\n--{boundary}--\n".encode()


def _answer(original: bytes, *, sender: str, rcpt: str, now: dt.datetime) -> EmailMessage:
    """A message from the recipient to the sender, in the original's conversation."""
    headers = _parsed(original)
    message = EmailMessage(policy=policy.default)
    message["From"] = headers.get("To", rcpt)
    message["To"] = headers.get("From", sender)
    message["Date"] = _date(now)
    message["Message-ID"] = _message_id(now)
    original_id = headers.get("Message-ID", "")
    if original_id:
        message["In-Reply-To"] = original_id
        message["References"] = " ".join(filter(None, [headers.get("References"), original_id]))
    return message


def reply(original: bytes, *, sender: str, rcpt: str, now: dt.datetime) -> bytes:
    headers = _parsed(original)
    message = _answer(original, sender=sender, rcpt=rcpt, now=now)
    subject = headers.get("Subject", "")
    message["Subject"] = subject if subject[:3].lower() == "re:" else f"Re: {subject}"
    message.set_content(
        "Thanks for reaching out. Could we talk on Tuesday afternoon?\n\n"
        f"On {headers.get('Date', _date(now))}, {headers.get('From', sender)} wrote:\n"
        "> (quoted message)\n"
    )
    return message.as_bytes()


def auto_reply(original: bytes, *, sender: str, rcpt: str, now: dt.datetime) -> bytes:
    headers = _parsed(original)
    back = (now + dt.timedelta(days=AWAY_DAYS)).date()
    message = _answer(original, sender=sender, rcpt=rcpt, now=now)
    message["Subject"] = f"Out of Office: {headers.get('Subject', '')}"
    message["Auto-Submitted"] = "auto-replied"
    message.set_content(
        f"Thank you for your email. I am out of the office until {back:%A, %B} {back.day}, "
        f"{back.year}, with limited access to email. I will reply when I return.\n"
    )
    return message.as_bytes()


def feedback(original: bytes, *, sender: str, rcpt: str, now: dt.datetime) -> bytes:
    domain = rcpt.rpartition("@")[2]
    message = EmailMessage(policy=policy.default)
    message["From"] = f"Feedback Loop <fbl@{domain}>"
    message["To"] = sender
    message["Subject"] = "Abuse report: complaint about a message you sent"
    message["Date"] = _date(now)
    message["Message-ID"] = _message_id(now)
    message.set_content(
        f"This is an email abuse report for a message received from {sender} on "
        f"{_date(now)}.\nA recipient marked it as spam.\n"
    )
    message.add_attachment(
        f"Feedback-Type: abuse\nUser-Agent: SandboxFBL/1.0\nVersion: 1\n"
        f"Original-Mail-From: <{sender}>\nOriginal-Rcpt-To: <{rcpt}>\n"
        f"Arrival-Date: {_date(now)}\nReported-Domain: {sender.rpartition('@')[2]}\n"
        "Source-IP: 192.0.2.10\n".encode(),
        maintype="message",
        subtype="feedback-report",
        cte="7bit",
        disposition="inline",
    )
    message.add_attachment(
        email.message_from_bytes(original, policy=policy.default), disposition="inline"
    )
    message.set_type("multipart/report")
    message.set_param("report-type", "feedback-report")
    return message.as_bytes()


Writer = Callable[..., bytes]
# The reserved test domains whose servers answer after accepting, and what they send.
ANSWER_LATER: dict[str, tuple[str, Writer]] = {
    "bounce-later.test": ("bounce", bounce),
    "replies.test": ("reply", reply),
    "ooo.test": ("auto_reply", auto_reply),
    "complains.test": ("feedback", feedback),
}
