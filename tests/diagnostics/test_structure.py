"""The structural rules: reading codes, and which signal wins (diagnostics.diagnosis)."""

from __future__ import annotations

import datetime as dt

import pytest

from diagnostics.diagnosis import diagnose

# 23:00 UTC: a daily quota resets in one hour.
NOW = dt.datetime(2026, 5, 23, 23, 0, tzinfo=dt.UTC)
GMAIL_UNKNOWN = (
    "550-5.1.1 The email account that you tried to reach does not exist. Please try\n"
    "550-5.1.1 double-checking the recipient's email address for typos or\n"
    "550 5.1.1 unnecessary spaces. https://support.google.com/mail/?p=NoSuchUser "
    "d2si1240688wre.283 - gsmtp"
)
DSN = (
    "Reporting-MTA: dns; mx.example.com\nStatus: 5.0.0\n"
    "Diagnostic-Code: smtp; 550 5.1.1 <a@b.example>... User unknown"
)

# raw -> code, category, retry, smtp_code, enhanced_code, http_status, provider, retry_after
TABLE = {
    # Multi-line replies, smtplib reprs, bounces.
    GMAIL_UNKNOWN: ("smtp.5.1.1", "recipient_unknown", "never", 550, "5.1.1", None, "gmail", None),
    DSN: ("smtp.5.1.1", "recipient_unknown", "never", 550, "5.1.1", None, "smtp", None),
    "(535, b'5.7.8 Username and Password not accepted.')": (
        "smtp.5.7.8",
        "mailbox_connection",
        "after_fix",
        535,
        "5.7.8",
        None,
        "smtp",
        None,
    ),
    "SMTPRecipientsRefused({'a@b.com': (550, b'5.1.1 <a@b.com>: Recipient address rejected: "
    "User unknown')})": (
        "smtp.5.1.1",
        "recipient_unknown",
        "never",
        550,
        "5.1.1",
        None,
        "smtp",
        None,
    ),
    # JSON bodies and HTTP statuses.
    '{"error": {"code": 429, "message": "Slow it please"}}': (
        "rate.limited",
        "rate_limited",
        "auto",
        None,
        None,
        429,
        None,
        None,
    ),
    '{"error": {"code": 503, "message": "The service is currently unavailable."}}': (
        "http.5xx",
        "temporary_failure",
        "auto",
        None,
        None,
        503,
        None,
        None,
    ),
    "googleapiclient.errors.HttpError: <HttpError 400 when requesting "
    'https://gmail.googleapis.com/gmail/v1/users/me/messages/send returned "Bad Request">': (
        "http.4xx",
        "provider_error",
        "after_fix",
        None,
        None,
        400,
        "gmail",
        None,
    ),
    "Request to https://api.example.com returned 429": (
        "rate.limited",
        "rate_limited",
        "auto",
        None,
        None,
        429,
        None,
        None,
    ),
    "upstream status 503": ("http.5xx", "temporary_failure", "auto", None, None, 503, None, None),
    "HTTP Error 502: Bad Gateway": (
        "proxy.gateway_error",
        "temporary_failure",
        "auto",
        None,
        None,
        502,
        None,
        None,
    ),
    # The `[status] message - source_error` form.
    "[503] Error - nylas_error": (
        "nylas.5xx.server_error",
        "temporary_failure",
        "auto",
        None,
        None,
        503,
        "nylas",
        None,
    ),
    "[403] Something new - nylas_error": (
        "http.403",
        "account_setup",
        "after_fix",
        None,
        None,
        403,
        "nylas",
        None,
    ),
    "[402] Message blocked due to spam content in the message. - 550 : This message was "
    "classified as SPAM - nylas_error": (
        "nylas.402.spam",
        "content_rejected",
        "after_fix",
        550,
        None,
        402,
        "nylas",
        None,
    ),
    # Words beat codes: the contract's "What wins".
    "550 5.1.1 Mailbox full": (
        "smtp.5.2.2",
        "recipient_mailbox_full",
        "never",
        550,
        "5.1.1",
        None,
        "smtp",
        None,
    ),
    "554 5.7.1 Daily sending quota exceeded": (
        "quota.daily",
        "quota_exceeded",
        "auto",
        554,
        "5.7.1",
        None,
        "smtp",
        3600,
    ),
    "421 4.2.0 User unknown": (
        "smtp.5.1.1",
        "recipient_unknown",
        "never",
        421,
        "4.2.0",
        None,
        "smtp",
        None,
    ),
    "452 4.3.1 Message size exceeds fixed maximum message size": (
        "smtp.5.2.3",
        "message_too_large",
        "after_fix",
        452,
        "4.3.1",
        None,
        "smtp",
        None,
    ),
    "452 4.2.2 The mailbox is temporarily full": (
        "smtp.4.2.2",
        "recipient_unavailable",
        "auto",
        452,
        "4.2.2",
        None,
        "smtp",
        None,
    ),
    # Enhanced code, then its class.subject, then the basic code.
    "550 5.1.10 <bob@example.com>: something": (
        "smtp.5.1.1",
        "recipient_unknown",
        "never",
        550,
        "5.1.10",
        None,
        "smtp",
        None,
    ),
    "550 5.7.99 Denied": (
        "smtp.5.7.1",
        "sender_blocked",
        "after_fix",
        550,
        "5.7.99",
        None,
        "smtp",
        None,
    ),
    "Error: 550 5.7.1 Service unavailable": (
        "smtp.5.7.1",
        "sender_blocked",
        "after_fix",
        550,
        "5.7.1",
        None,
        "smtp",
        None,
    ),
    "421 4.7.0 Try again later, closing connection.": (
        "smtp.4.7.0",
        "temporary_failure",
        "auto",
        421,
        "4.7.0",
        None,
        "smtp",
        300,
    ),
    "535 Nope": ("smtp.5.7.8", "mailbox_connection", "after_fix", 535, None, None, "smtp", None),
    "421 Closing": (
        "smtp.421.service_unavailable",
        "temporary_failure",
        "auto",
        421,
        None,
        None,
        "smtp",
        300,
    ),
    "450 Come back": (
        "smtp.450.mailbox_busy",
        "recipient_unavailable",
        "auto",
        450,
        None,
        None,
        "smtp",
        1800,
    ),
    "451 Go away": ("smtp.4.0.0", "temporary_failure", "auto", 451, None, None, "smtp", None),
    # Hints decide only without a code; unknown takes the code class's retry.
    "Connection timed out": (
        "temporary.words",
        "temporary_failure",
        "auto",
        None,
        None,
        None,
        None,
        None,
    ),
    "550 Go away": ("unknown", "unknown", "after_fix", 550, None, None, "smtp", None),
    "455 hmm": ("unknown", "unknown", "auto", 455, None, None, "smtp", None),
    "[418] Whatever": ("unknown", "unknown", "after_fix", None, None, 418, None, None),
    "Something odd happened": ("unknown", "unknown", "after_fix", None, None, None, None, None),
    "": ("unknown", "unknown", "after_fix", None, None, None, None, None),
}


@pytest.mark.parametrize(("raw", "expected"), TABLE.items(), ids=[raw[:50] for raw in TABLE])
def test_it_reads_codes_and_applies_the_precedence(raw: str, expected: tuple) -> None:
    diagnosis = diagnose(raw, now=NOW)

    assert (
        diagnosis.code,
        diagnosis.category,
        diagnosis.retry,
        diagnosis.smtp_code,
        diagnosis.enhanced_code,
        diagnosis.http_status,
        diagnosis.provider,
        diagnosis.retry_after,
    ) == expected


@pytest.mark.parametrize(
    ("raw", "http_status"),
    [
        ("HTTP/1.1 503 Service Unavailable", 503),
        ("HTTP Error 429: Too Many Requests", 429),
        ("requests failed: status_code=429", 429),
        ('{"statusCode":401,"error":"Unauthorized","message":"API key required"}', 401),
        ("503 Service Unavailable", 503),
        ("Error 404 - Not found", 404),
        ("Error: 429 : {}", 429),
        ("503 5.5.1 Bad sequence of commands", None),
        ("Unsuccessful: 400 Bad Request;\nAt least one part must be provided.", 400),
        ("Error: error: 500 when POST-ing https://www.googleapis.com/upload/gmail/v1", 500),
        ("host said: 421 Service unavailable, closing channel", None),
        ("Remote Server returned '550 5.1.1 RESOLVER.ADR.RecipNotFound; not found'", None),
    ],
)
def test_it_tells_http_statuses_from_smtp_replies(raw: str, http_status: int | None) -> None:
    diagnosis = diagnose(raw)

    assert diagnosis.http_status == http_status
    assert (diagnosis.smtp_code is None) == (http_status is not None)


@pytest.mark.parametrize(
    ("raw", "request_id"),
    [
        (
            "[500] An internal error occurred. If this issue persists, please contact support "
            'and copy/paste this request_uid: \\"342FB659:BAF8_0A4D0942:01BB_5ECB9725_D73A1:200C'
            '\\". - nylas_error',
            "342FB659:BAF8_0A4D0942:01BB_5ECB9725_D73A1:200C",
        ),
        (
            '{"error":{"code":"ErrorAccessDenied","message":"Access is denied.","innerError":'
            '{"request-id":"3d0f1c9a-1b2c-4d5e-8f90-123456789abc"}}}',
            "3d0f1c9a-1b2c-4d5e-8f90-123456789abc",
        ),
        (
            "MessageRejected: Email address is not verified. "
            "RequestId: 1f3a2b4c-5d6e-7f80-9a1b-2c3d4e5f6a7b",
            "1f3a2b4c-5d6e-7f80-9a1b-2c3d4e5f6a7b",
        ),
        (GMAIL_UNKNOWN, "d2si1240688wre.283"),
        ("550 5.1.1 User unknown", None),
    ],
)
def test_it_finds_request_ids(raw: str, request_id: str | None) -> None:
    assert diagnose(raw).request_id == request_id


def test_it_counts_a_daily_quota_down_to_midnight_utc() -> None:
    raw = '{"error": {"code": "daily_quota_exceeded"}}'
    paris = dt.timezone(dt.timedelta(hours=2))

    assert diagnose(raw, now=dt.datetime(2026, 5, 23, 12, 0, tzinfo=dt.UTC)).retry_after == 43200
    assert diagnose(raw, now=dt.datetime(2026, 5, 24, 1, 0, tzinfo=paris)).retry_after == 3600
    assert diagnose(raw, now=dt.datetime(2026, 5, 23, 23, 59, 30)).retry_after == 30


def test_it_gives_retry_after_only_to_automatic_retries() -> None:
    deferred_for_complaints = "421 4.7.0 [TS01] Messages from 192.0.2.1 deferred: user complaints"

    assert diagnose(deferred_for_complaints).retry == "after_fix"
    assert diagnose(deferred_for_complaints).retry_after is None


def test_it_reads_codes_only_in_the_first_part_of_a_huge_text() -> None:
    raw = "x" * 100_000 + " 550 5.1.1 User unknown"

    diagnosis = diagnose(raw)

    assert diagnosis.raw is raw
    assert (diagnosis.code, diagnosis.smtp_code) == ("unknown", None)


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        # The provider's own name for the cause beats the words beside it.
        (
            '{"error": {"code": "ErrorQuotaExceeded", "message": "Mailbox has exceeded maximum '
            'mailbox size."}}',
            "graph.mailbox_quota",
        ),
        (
            "{ error: { statusCode: 429, name: 'rate_limit_exceeded', message: 'x' } }",
            "rate.limited",
        ),
        ('{"ErrorCode": 406, "Message": "Inactive recipient"}', "postmark.inactive_recipient"),
        ('{"ErrorCode": "mj-0002", "ErrorMessage": "Malformed", "StatusCode": 400}', "request"),
        # A validation error is decided by the field it refuses.
        ('{"errors": [{"message": "Does not look right", "field": "from"}]}', "smtp.5.1.7"),
        ('{"ErrorCode": "mj-0013", "ErrorRelatedTo": ["To[0].Email"]}', "smtp.5.1.3"),
        ('{"name": "validation_error", "message": "Looks odd", "statusCode": 422}', "request"),
        # AWS names its error in botocore's exception and in its XML bodies.
        (
            "An error occurred (InvalidClientTokenId) when calling the SendEmail operation: The "
            "security token included in the request is invalid.",
            "api.invalid_api_key",
        ),
        ("<Error><Type>Sender</Type><Code>AccessDenied</Code></Error>", "account.api_setup"),
    ],
)
def test_it_reads_the_fields_of_an_error_object(raw: str, code: str) -> None:
    assert diagnose(raw).code.startswith(code)


@pytest.mark.parametrize(
    "raw",
    [
        # Exchange's submission is our mailbox, whatever its quota exception says.
        "STOREDRV.Submission.Exception:QuotaExceededException.MapiExceptionMessagePerFolderCount"
        "QuotaExceeded; Failed to process message due to a permanent exception",
        "System.Net.Mail.SmtpException: Mailbox unavailable. The server response was: If MAIL "
        "FROM is local then you must authenticate",
        "554 5.2.0 Failed to process message due to a permanent exception",
        "552 Too many received headers - possible mail loop",
        "550 5.1.1 relay@example.com: sender address rejected: not owned by user",
        # Postfix names the refused address: an unknown user there is our own address.
        "550 5.1.0 <rep@example.com>: Sender address rejected: User unknown in local recipient "
        "table",
        "450 4.1.7 <rep@example.com>: Sender address rejected: undeliverable address: host "
        "mx.example.com said: 550 5.1.1 User unknown",
        # A basic reply code alone: a 552 is a content filter or a size as often as a full
        # mailbox, a 551 a refused login.
        "552 MS-Office file containing VBA macros found inside of the email",
        "551 auth error.",
        # Our own server without a way out bounces every remote contact so (issue 14, Postfix).
        "550 5.1.1 <bob@example.com>: Recipient address rejected: no outbound network",
        # A sign-in's errors are our mailbox's login, whatever account they say is missing.
        "AADSTS50034: The user account {EUII Hidden} does not exist in the contoso.onmicrosoft.com "
        "directory.",
        "{'error': 'invalid_grant', 'error_description': 'Account does not exist.'}",
        # An exact code alone, in a reply about no recipient (AOL's refusal of the sender).
        "521 5.2.1 : AOL will not accept delivery of this message.",
        # A mailbox-level text that speaks of our reputation.
        "550 5.2.1 Mailbox unavailable. Your IP address 192.0.2.1 is blacklisted using RBL",
    ],
)
def test_it_does_not_bounce_the_contact_for_a_refusal_that_is_not_theirs(raw: str) -> None:
    assert diagnose(raw).retry != "never"


@pytest.mark.parametrize(
    "raw",
    [
        GMAIL_UNKNOWN,
        "550 5.1.1 <bob@example.com>: Recipient address rejected: User unknown in relay table",
        "554 5.2.2 mailbox full; STOREDRV.Deliver.Exception:QuotaExceededException",
        # Nothing but the codes: they are the only signal.
        "550 5.1.1",
    ],
)
def test_it_still_bounces_the_contact_when_the_recipient_is_plainly_gone(raw: str) -> None:
    assert diagnose(raw).retry == "never"


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        # RFC 3463's names of the enhanced codes, and RFC 5321's texts of the reply codes.
        ("Bad destination mailbox address", "smtp.5.1.1"),
        ("550 Bad destination system address", "smtp.5.1.2"),
        ("554 Mailbox disabled, not accepting messages", "smtp.5.2.1"),
        ("550 <bob@example.com>: Syntax error in parameters or arguments", "smtp.5.5.0"),
        ("504 Unrecognized authentication type", "mailbox.server_settings"),
        # An exact enhanced code says more than a name read beside it.
        ("501 5.1.3 Syntax error in parameters or arguments", "smtp.5.1.3"),
    ],
)
def test_it_reads_the_standard_names_of_the_codes(raw: str, code: str) -> None:
    assert diagnose(raw).code == code


@pytest.mark.parametrize(
    ("raw", "category"),
    [
        # Written in each language's usual wording of the reply.
        ("550 Casella di posta inesistente", "recipient_unknown"),
        ("550 O destinatário não existe", "recipient_unknown"),
        ("550 Gebruiker onbekend", "recipient_unknown"),
        ("550 mwinf5c10 ME Adresse email inconnue / Unknown email address", "recipient_unknown"),
        ("550 Recipient suspended", "recipient_unknown"),
        ("552 Postfach des Empfängers ist voll", "recipient_mailbox_full"),
        ("552 用户邮箱空间已满", "recipient_mailbox_full"),
        ("メールボックスが一杯です", "recipient_mailbox_full"),
    ],
)
def test_it_reads_the_recipients_state_in_the_languages_of_its_providers(
    raw: str, category: str
) -> None:
    assert diagnose(raw).category == category


def test_it_falls_to_our_side_when_nothing_else_names_the_cause() -> None:
    diagnosis = diagnose("OAuth 2.0 token exchange failed.")

    assert (diagnosis.code, diagnosis.category, diagnosis.retry) == (
        "sender.refused",
        "account_setup",
        "after_fix",
    )


def test_it_reads_no_words_in_an_address() -> None:
    raw = "450 4.2.1 dmarc@example.com: the user is receiving mail at a rate that prevents more"

    assert diagnose(raw).category == "recipient_unavailable"
