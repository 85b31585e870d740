"""Messages as they land in a sales rep's mailbox, in the formats real servers write them:
a Postfix bounce and delay notice (RFC 3464), a person's reply, an out-of-office reply
(RFC 3834) and an ARF complaint (RFC 5965), each about one of our sent emails. The tests,
the benchmark and the demo put them in mailboxes to be read (sequences.services.inbox)."""

from __future__ import annotations

import datetime as dt
from email.utils import format_datetime, make_msgid

BOUNDARY = "6F35420C496.1796298091/mail.sender.test"


def _date(at: dt.datetime | None) -> str:
    return format_datetime(at or dt.datetime.now(dt.UTC))


def _returned(sender: str, to: str, message_id: str) -> str:
    return (
        f"Return-Path: <{sender}>\n"
        "Received: from client.sender.test (localhost [127.0.0.1])\n"
        "\tby mail.sender.test (Postfix) with ESMTP id 6F35420C496\n"
        f"\tfor <{to}>; Thu,  3 Dec 2026 11:41:27 +0000 (UTC)\n"
        f"From: Rita Sales <{sender}>\n"
        f"To: {to}\n"
        "Subject: Step 1 for Pat\n"
        f"Message-ID: {message_id}\n"
        "MIME-Version: 1.0\n"
    )


def postfix_report(
    *,
    sender: str,
    to: str,
    message_id: str | None,
    diagnostic: str = "smtp; 550 5.1.1 <{to}>: Recipient address rejected: User unknown",
    status: str = "5.1.1",
    action: str = "failed",
    at: dt.datetime | None = None,
) -> bytes:
    """Postfix's non-delivery (or, with action "delayed", delay) notice for `to`; the
    returned headers carry `message_id` (None: a report that quotes no original)."""
    diagnostic = diagnostic.format(to=to)
    subject = (
        "Undelivered Mail Returned to Sender"
        if action == "failed"
        else "Delayed Mail (still being retried)"
    )
    returned = (
        f"\n--{BOUNDARY}\nContent-Description: Undelivered Message Headers\n"
        "Content-Type: text/rfc822-headers\n\n" + _returned(sender, to, message_id)
        if message_id
        else ""
    )
    text = (
        "Received: by mail.sender.test (Postfix)\n"
        "\tid 7D8D920C491; Thu,  3 Dec 2026 11:41:31 +0000 (UTC)\n"
        f"Date: {_date(at)}\n"
        "From: Mail Delivery System <MAILER-DAEMON@sender.test>\n"
        f"Subject: {subject}\n"
        f"To: {sender}\n"
        "Auto-Submitted: auto-replied\n"
        "MIME-Version: 1.0\n"
        "Content-Type: multipart/report; report-type=delivery-status;\n"
        f'\tboundary="{BOUNDARY}"\n'
        f"Message-Id: {make_msgid(domain='mail.sender.test')}\n\n"
        "This is a MIME-encapsulated message.\n\n"
        f"--{BOUNDARY}\nContent-Description: Notification\n"
        "Content-Type: text/plain; charset=utf-8\n\n"
        "This is the mail system at host mail.sender.test.\n\n"
        "I'm sorry to have to inform you that your message could not\n"
        "be delivered to one or more recipients. It's attached below.\n\n"
        f"<{to}>: host mx.example.test[192.0.2.10] said: {diagnostic.split('; ', 1)[-1]}\n\n"
        f"--{BOUNDARY}\nContent-Description: Delivery report\n"
        "Content-Type: message/delivery-status\n\n"
        "Reporting-MTA: dns; mail.sender.test\n"
        "X-Postfix-Queue-ID: 6F35420C496\n"
        f"X-Postfix-Sender: rfc822; {sender}\n\n"
        f"Final-Recipient: rfc822; {to}\n"
        f"Original-Recipient: rfc822;{to}\n"
        f"Action: {action}\n"
        f"Status: {status}\n"
        "Remote-MTA: dns; mx.example.test\n"
        f"Diagnostic-Code: {diagnostic}\n" + returned + f"\n--{BOUNDARY}--\n"
    )
    return text.replace("\n", "\r\n").encode()


def reply(*, sender: str, to: str, in_reply_to: str | None, at: dt.datetime | None = None) -> bytes:
    """A person's answer from `sender`, threaded on `in_reply_to` (None: not threaded)."""
    thread = f"In-Reply-To: {in_reply_to}\nReferences: {in_reply_to}\n" if in_reply_to else ""
    text = (
        f"From: Pat Lead <{sender}>\n"
        f"To: Rita Sales <{to}>\n"
        "Subject: Re: Step 1 for Pat\n"
        f"Date: {_date(at)}\n"
        f"Message-ID: {make_msgid(domain='lead.test')}\n" + thread + "MIME-Version: 1.0\n"
        "Content-Type: text/plain; charset=utf-8\n\n"
        "Sounds interesting, can we talk on Thursday? My number is 555-0100.\n"
    )
    return text.replace("\n", "\r\n").encode()


def out_of_office(
    *, sender: str, to: str, in_reply_to: str, back: dt.date, at: dt.datetime | None = None
) -> bytes:
    """Exchange's automatic reply, saying when its author is back."""
    text = (
        f"From: Pat Lead <{sender}>\n"
        f"To: Rita Sales <{to}>\n"
        "Subject: Automatic reply: Step 1 for Pat\n"
        f"Date: {_date(at)}\n"
        f"Message-ID: {make_msgid(domain='lead.test')}\n"
        f"In-Reply-To: {in_reply_to}\n"
        "Auto-Submitted: auto-replied\n"
        "X-Auto-Response-Suppress: All\n"
        "MIME-Version: 1.0\n"
        "Content-Type: text/plain; charset=utf-8\n\n"
        f"I am out of the office and will be back on {back:%B %-d, %Y}.\n"
        "For urgent matters, contact my colleague.\n"
    )
    return text.replace("\n", "\r\n").encode()


def complaint(
    *, complainer: str, sender: str, message_id: str, at: dt.datetime | None = None
) -> bytes:
    """A feedback loop's abuse report (ARF, as Yahoo and Microsoft's JMRP send)."""
    boundary = "----=_arf_boundary"
    text = (
        "From: Feedback Loop <feedbackloop@fbl.example.test>\n"
        f"To: {sender}\n"
        "Subject: FW: Step 1 for Pat\n"
        f"Date: {_date(at)}\n"
        f"Message-ID: {make_msgid(domain='fbl.example.test')}\n"
        "MIME-Version: 1.0\n"
        "Content-Type: multipart/report; report-type=feedback-report;\n"
        f'\tboundary="{boundary}"\n\n'
        f"--{boundary}\nContent-Type: text/plain; charset=us-ascii\n\n"
        "This is an email abuse report for an email message received from IP 192.0.2.1.\n\n"
        f"--{boundary}\nContent-Type: message/feedback-report\n\n"
        "Feedback-Type: abuse\n"
        "User-Agent: ExampleFBL/1.0\n"
        "Version: 1\n"
        f"Original-Mail-From: <{sender}>\n"
        f"Original-Rcpt-To: <{complainer}>\n"
        "Source-IP: 192.0.2.1\n\n"
        f"--{boundary}\nContent-Type: message/rfc822\n\n"
        f"From: Rita Sales <{sender}>\n"
        f"To: {complainer}\n"
        "Subject: Step 1 for Pat\n"
        f"Message-ID: {message_id}\n\n"
        "Hello Pat\n\n"
        f"--{boundary}--\n"
    )
    return text.replace("\n", "\r\n").encode()
