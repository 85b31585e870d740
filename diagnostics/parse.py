"""The structural signals of a raw error: reply codes, HTTP status, provider, request id.

Each pattern starts with a literal or a small set of characters, so that sre's fast scan
skips most positions; the costlier ones only run when the line contains their trigger word.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import NamedTuple

# Long inputs (a whole bounce with its headers) keep their codes near the start; scanning
# all of a megabyte for them would cost milliseconds for nothing.
SCAN_LIMIT = 8192


class Signals(NamedTuple):
    smtp_code: int | None
    enhanced_code: str | None
    http_status: int | None
    provider: str | None
    request_id: str | None


_HTTP_REASONS: dict[int, tuple[str, ...]] = {
    400: ("bad request",),
    401: ("unauthorized",),
    402: ("payment required", "request failed"),
    403: ("forbidden",),
    404: ("not found",),
    405: ("method not allowed",),
    408: ("request time",),
    409: ("conflict",),
    410: ("gone",),
    413: ("request entity too large", "payload too large", "content too large"),
    422: ("unprocessable",),
    429: ("too many requests",),
    500: ("internal server error", "server error"),
    502: ("bad gateway",),
    503: ("service unavailable",),
    504: ("gateway time",),
}
# The first word of each reason, and a status in parentheses followed by its reason.
_REASON_WORDS = frozenset(
    reason.split()[0].encode() for reasons in _HTTP_REASONS.values() for reason in reasons
) | {b"reason"}
_PARENTHESIZED = re.compile(
    r"\((\d{3})\)[\s:]*(?:reason\b|"
    + "|".join(sorted({r for reasons in _HTTP_REASONS.values() for r in reasons}))
    + ")"
)
# "Unsuccessful: 400 Bad Request": a status line quoted inside a message, kept only when
# the reason is its status' own ("421 Service unavailable" stays an SMTP reply).
_REASON_AFTER = re.compile(
    r"(?<=(\d{3}) )(?:"
    + "|".join(sorted({r for reasons in _HTTP_REASONS.values() for r in reasons} - {"gone"}))
    + ")"
)
_REASON_STATUSES = frozenset(b"%d" % status for status in _HTTP_REASONS)
# "[402] …", "Error 429 - …" (Nylas), "Error: 429 : {…}": the forms that open a line.
_HTTP_LEAD = re.compile(r"\s*(?:\[(\d{3})\]|error:? (\d{3})(?= -| :| \(|$))")
# "503 Service Unavailable": an HTTP status line, told from an SMTP reply by its reason.
_HTTP_REASON_LEAD = re.compile(r"\s*(\d{3}) ([a-z][a-z -]{1,30})")
# Statuses inside a line, each searched only when one of its words is there.
_HTTP_INLINE: tuple[tuple[frozenset[bytes], re.Pattern[str]], ...] = (
    (frozenset({b"httperror"}), re.compile(r"httperror (\d{3})\b")),
    (
        frozenset({b"http"}),
        re.compile(r"http(?:/\d(?:\.\d)?)?(?: error| status(?: code)?)?:? (\d{3})\b"),
    ),
    # "a 403 HTTP status code"
    (frozenset({b"http"}), re.compile(r"(\d{3}) http status\b")),
    (
        frozenset({b"status", b"statuscode", b"status_code"}),
        # … PHP's var_dump: ["StatusCode"]=> int(401)
        re.compile(r"status(?:[ _]?code)?[\"'\]]*\s*(?:=>|[:=])?\s*(?:int\()?(\d{3})\b"),
    ),
    (frozenset({b"returned"}), re.compile(r"returned (?:http |status |code )?(\d{3})\b")),
    # "error 400 while sending #<RestClient::Resource …>": a client library's request status.
    (frozenset({b"while"}), re.compile(r"error (\d{3}) while (?:sending|requesting|calling)\b")),
    (frozenset({b"code"}), re.compile(r"[\"']code[\"']\s*:\s*(\d{3})\b")),
    # "Mailgun API response 401 (UNAUTHORIZED)"
    (frozenset({b"response"}), re.compile(r"response (\d{3}) \(")),
    # superagent's "cannot POST /v3.1/send (400)"
    (frozenset({b"cannot"}), re.compile(r"cannot (?:post|get|put|patch|delete) \S+ \((\d{3})\)")),
    # "(403) Forbidden", swagger clients' "(401)\nReason: Unauthorized"
    (_REASON_WORDS, _PARENTHESIZED),
    # "HttpError 400 when requesting …", "500 when POST-ing https://…": a request's status.
    (
        frozenset({b"when"}),
        re.compile(r"(?<=(\d{3}) )when (?:requesting|post-?ing|get-?ing|put-?ing)"),
    ),
)
_HTTP_TRIGGERS = frozenset().union(*(triggers for triggers, _ in _HTTP_INLINE))

_CODE = r"([245][0-5]\d)"  # RFC 5321: the second digit of a reply code is 0-5.
_SMTP_LEAD = re.compile(r"[\s#'\"(]*" + _CODE + r"(?=[ ,-]|$)")
_SMTP_BEFORE_ENHANCED = re.compile(r"(?<![\w.])" + _CODE + r"[ -]+\Z")
_SMTP_ELSEWHERE = (
    re.compile(r"\(" + _CODE + r", b?['\"]"),  # smtplib: (550, b'…')
    re.compile(r" - " + _CODE + r"(?= ?:| )"),  # "[402] … - 550 : …"
    re.compile(r"\n[\s#'\"]*" + _CODE + r"(?=[ -])"),  # a later line of a bounce
    re.compile(r"[:;] ?['\"]?" + _CODE + r"(?=[ -]|$)"),  # "said: 550 …", "smtp; 550 …"
)
# Reply codes and statuses are words of their own ("550-5.1.1" splits into 550, 5, 1, 1):
# a line without such a word needs none of the searches below.
_SMTP_WORDS = frozenset(str(code).encode() for code in range(200, 560) if code // 10 % 10 <= 5)
_HTTP_WORDS = frozenset(str(code).encode() for code in range(100, 600))
_ENHANCED_WORDS = frozenset((b"4", b"5"))
# Not inside a word or a number: a leading lookbehind would cost sre its fast scan for the
# first character, so _enhanced_codes checks the character before instead.
_ENHANCED = re.compile(r"([45])\.([0-7])\.(\d{1,3})(?!\d|\.\d)")
_WORD_OR_DOT = re.compile(r"[\w.]")

# Word → (rank, provider): the mailbox provider named in the text beats the API that
# carried its answer ("… Gmail API … - nylas_error" is Gmail's refusal).
_PROVIDER_WORDS: dict[bytes, tuple[int, str]] = {
    **dict.fromkeys((b"gmail", b"google", b"googleapis", b"gsmtp", b"googlemail"), (0, "gmail")),
    **dict.fromkeys(
        (b"microsoft", b"outlook", b"office365", b"hotmail", b"exchange", b"storedrv", b"eas"),
        (0, "microsoft"),
    ),
    **dict.fromkeys((b"yahoo", b"yahoodns", b"aol"), (0, "yahoo")),
    b"icloud": (0, "icloud"),
    b"sendgrid": (1, "sendgrid"),
    **dict.fromkeys((b"ses", b"amazonses", b"aws"), (1, "ses")),
    **dict.fromkeys((b"postmark", b"postmarkapp"), (1, "postmark")),
    b"mailgun": (1, "mailgun"),
    **dict.fromkeys((b"nylas", b"nylas_error"), (1, "nylas")),
    **dict.fromkeys(
        (
            b"smtp",
            b"smtplib",
            b"smtpauthenticationerror",
            b"smtprecipientsrefused",
            b"smtpsenderrefused",
            b"smtpdataerror",
            b"smtpserverdisconnected",
            b"smtpconnecterror",
            b"smtpresponseexception",
            b"smtpnotsupportederror",
        ),
        (2, "smtp"),
    ),
}
_PROVIDER_SET = frozenset(_PROVIDER_WORDS)

_REQUEST_WORDS = frozenset((b"request", b"request_uid", b"request_id", b"requestid", b"gsmtp"))
# Searched in the lowercased text (a literal start keeps the scan fast); the id itself is
# then cut from the original text, whose case it keeps.
_REQUEST_ID = re.compile(r"request[-_ ]?u?id\W{1,4}([\w:.\-]{6,})")
# Gmail ends each reply with its transaction id: "… dh9si2656259wib.8 - gsmtp".
_GSMTP = re.compile(r" +- +gsmtp")
_ID_BEFORE = re.compile(r"([\w.\-]{6,})\Z")

# The code-like fields of an error object (JSON, a JavaScript or Ruby literal, PHP's
# var_dump): `"code": "ErrorSendAsDenied"`, `reason: 'rateLimitExceeded'`,
# `["ErrorCode"]=> string(7) "mj-0013"`, `"field": "from"`. Read only in a line with a brace:
# the usual SMTP reply pays one `in`.
_ERROR_FIELD = re.compile(
    r"(code|type|reason|status|name|errorcode|error_code|field|errorrelatedto)"
    r"[\"'\]]*\s*(?:=>|:)\s*(?:string\(\d+\)\s*|\[\s*)?[\"']?([a-z0-9][\w.\-\[\]]*)"
)
_KEY_BEFORE = re.compile(r"[\w-]")
# AWS names its error in botocore's "An error occurred (Throttling) when calling the SendEmail
# operation" and in its XML bodies' <Code>Throttling</Code>.
_AWS_CODE = re.compile(r"an error occurred \((\w+)\) when calling|<code>(\w+)</code>")
# A named field of the error object, keyed so that numbers of different APIs cannot meet:
# Postmark's `ErrorCode: 406` is not an HTTP 406, a field names the request part refused.
_KEYED = {"errorcode": "errorcode:", "error_code": "errorcode:", "field": "field:"}


def error_fields(lowered: str) -> frozenset[str]:
    """The values of the code-like fields of an error object in the text, each once.

    A value is kept as it is ("errorsendasdenied", "validation_error", "mj-0013") except the
    numbers of an ErrorCode and the request fields an error names, which carry their key
    ("errorcode:406", "field:from", "field:to[0].email").
    """
    fields = set()
    if "error occurred (" in lowered or "<code>" in lowered:
        for named in _AWS_CODE.findall(lowered):
            fields.update(filter(None, named))
    brace = lowered.find("{")
    if brace < 0:
        return frozenset(fields)
    for found in _ERROR_FIELD.finditer(lowered, brace):
        if _KEY_BEFORE.match(lowered, found.start() - 1):
            continue  # "statusCode", "error_type": part of a longer key
        key, value = found.groups()
        if key == "errorrelatedto":
            key = "field"
        if key in _KEYED and (key == "field" or value.isdigit()):
            fields.add(_KEYED[key] + value)
        else:
            fields.add(value)
    return frozenset(fields)


# Every word a signal looks for: read_signals keeps only these, so a new word set joins them.
_SIGNAL_WORDS = (
    _HTTP_WORDS | _HTTP_TRIGGERS | _SMTP_WORDS | _ENHANCED_WORDS | _PROVIDER_SET | _REQUEST_WORDS
)


def read_signals(text: str, lowered: str, words: frozenset[bytes]) -> Signals:
    """The signals in `text` (already cut to SCAN_LIMIT), its lowercase and its words."""
    # The few words that matter, found once: the tests below then each look at a handful
    # of words rather than at all of the line's.
    words = _SIGNAL_WORDS & words
    http_status, http_at = (
        (None, -1) if _HTTP_WORDS.isdisjoint(words) else _http_status(lowered, words)
    )
    enhanced = None if _ENHANCED_WORDS.isdisjoint(words) else _enhanced_code(lowered)
    maybe_smtp = not _SMTP_WORDS.isdisjoint(words)
    if maybe_smtp and http_status is not None:
        maybe_smtp = bool(_SMTP_WORDS & words - {b"%d" % http_status})  # "[402] …" has none
    smtp_code = _smtp_code(lowered, enhanced, http_at) if maybe_smtp else None
    if smtp_code == 400:
        # No SMTP reply is 400 (RFC 5321): a bare "400" is an API's Bad Request.
        smtp_code, http_status = None, http_status or 400
    provider_words = _PROVIDER_SET & words
    if provider_words:
        provider: str | None = min(map(_PROVIDER_WORDS.__getitem__, provider_words))[1]
    else:
        provider = "smtp" if smtp_code is not None else None
    return Signals(
        smtp_code,
        enhanced.group() if enhanced is not None else None,
        http_status,
        provider,
        None if _REQUEST_WORDS.isdisjoint(words) else _request_id(text, lowered),
    )


def _enhanced_code(lowered: str) -> re.Match[str] | None:
    codes = _enhanced_codes(lowered)
    enhanced = next(codes, None)
    if enhanced is not None and enhanced.group(2) == enhanced.group(3) == "0":
        # "Status: 5.0.0" heads a bounce whose precise code comes later.
        precise = (e for e in codes if e.group(2, 3) != ("0", "0"))
        enhanced = next(precise, enhanced)
    return enhanced


def _enhanced_codes(lowered: str) -> Iterator[re.Match[str]]:
    """The enhanced codes in order, as `(?<![\\w.])` + _ENHANCED's finditer would give them."""
    found = _ENHANCED.search(lowered)
    while found is not None:
        start = found.start()
        if start and _WORD_OR_DOT.match(lowered, start - 1):
            found = _ENHANCED.search(lowered, start + 1)
        else:
            yield found
            found = _ENHANCED.search(lowered, found.end())


def _http_status(lowered: str, words: frozenset[bytes]) -> tuple[int | None, int]:
    """The HTTP status and where it stands (-1 when absent)."""
    lead = _HTTP_LEAD.match(lowered)
    if lead is not None:
        group = 1 if lead.group(1) else 2
        return int(lead.group(group)), lead.start(group)
    lead = _HTTP_REASON_LEAD.match(lowered)
    if lead is not None:
        status = int(lead.group(1))
        if lead.group(2).startswith(_HTTP_REASONS.get(status, ("\0",))):
            return status, lead.start(1)
    if _HTTP_TRIGGERS.isdisjoint(words):
        return None, -1
    for triggers, pattern in _HTTP_INLINE:
        if not triggers.isdisjoint(words):
            found = pattern.search(lowered)
            if found is not None:
                return int(found.group(1)), found.start(1)
    if not (_REASON_WORDS.isdisjoint(words) or _REASON_STATUSES.isdisjoint(words)):
        for found in _REASON_AFTER.finditer(lowered):
            status = int(found.group(1))
            if found.group().startswith(_HTTP_REASONS.get(status, ("\0",))):
                return status, found.start(1)
    return None, -1


def _smtp_code(lowered: str, enhanced: re.Match[str] | None, http_at: int) -> int | None:
    found = _SMTP_LEAD.match(lowered)
    if found is None and enhanced is not None:
        start = enhanced.start()
        found = _SMTP_BEFORE_ENHANCED.search(lowered, max(0, start - 8), start)
    if found is None:
        for pattern in _SMTP_ELSEWHERE:
            found = pattern.search(lowered)
            if found is not None:
                break
    if found is None or found.start(1) == http_at:
        return None
    return int(found.group(1))


def _request_id(text: str, lowered: str) -> str | None:
    if len(lowered) != len(text):
        return None  # lowercasing moved the offsets (a rare Unicode letter): no safe cut
    found = _REQUEST_ID.search(lowered)
    if found is not None:
        return text[found.start(1) : found.end(1)].rstrip(".:-")
    gsmtp = _GSMTP.search(lowered)
    if gsmtp is not None:
        found = _ID_BEFORE.search(lowered, max(0, gsmtp.start() - 100), gsmtp.start())
        if found is not None:
            return text[found.start(1) : found.end(1)].rstrip(".:-")
    return None
