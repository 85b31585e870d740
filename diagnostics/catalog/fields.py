"""The error objects of the sending APIs, read by their fields rather than their wording.

A JSON (or JavaScript, Ruby, PHP) error body names its cause in a code-like field:
Microsoft Graph's `{"error": {"code": "ErrorSendAsDenied"}}`, the Gmail API's
`"reason": "insufficientPermissions"`, Resend's `"name": "daily_quota_exceeded"`, Brevo's
`"code": "unauthorized"`, Postmark's `"ErrorCode": 406`, Mailjet's `"ErrorCode": "mj-0002"`,
SparkPost's `"code": "7001"`, Postal's `"code": "UnauthenticatedFromAddress"`. Such a name is
the provider's own and means one thing, whatever the message beside it says ("Mailbox has
exceeded maximum mailbox size" is the sender's mailbox when Graph says ErrorQuotaExceeded),
so CODES decide before the wording (diagnostics.diagnosis).

Validation errors name no cause but the request field they refuse: the contact's address
(`"field": "to"`, `ErrorRelatedTo: ["To[0].Email"]`), our sender address (`"field": "from"`),
or any other part of the request, a defect. They decide after the wording, which often says
more ("Invalid To header" under Gmail's generic `invalidArgument`).

The names are those of diagnostics.parse.error_fields: lowercase, an ErrorCode's number as
"errorcode:406".
"""

from __future__ import annotations

from diagnostics.catalog import api, codes, words
from diagnostics.catalog.entry import Entry

_API = {entry.code: entry for entry in api.ENTRIES}
_KEY = _API["api.invalid_api_key"]

# Name → entry; each name documented by its provider's error reference.
CODES: dict[str, Entry] = {
    # Microsoft Graph (Exchange response codes): the sending mailbox's own state.
    "errorsendasdenied": words.SENDER_ADDRESS,
    "errorquotaexceeded": _API["graph.mailbox_quota"],
    "mailboxnotenabledforrestapi": words.API_SETUP,
    "erroraccessdenied": words.API_SETUP,
    "errormissingemailaddress": words.API_SETUP,
    "applicationthrottled": _API["graph.throttled"],
    "errorinvalidrecipients": words.BAD_ADDRESS,
    "errormessagesizeexceeded": words.TOO_LARGE,
    "invalidauthenticationtoken": words.AUTH_FAILED,
    # Gmail API reasons and Google's canonical statuses.
    "insufficientpermissions": words.API_SETUP,
    "permission_denied": words.API_SETUP,
    "failedprecondition": words.API_SETUP,
    "failed_precondition": words.API_SETUP,
    "ratelimitexceeded": words.RATE,
    "userratelimitexceeded": words.RATE,
    "resource_exhausted": _API["google.resource_exhausted"],
    "dailylimitexceeded": words.QUOTA_DAILY,
    "backenderror": codes.HTTP_UNAVAILABLE,
    "unavailable": codes.HTTP_UNAVAILABLE,
    "autherror": words.AUTH_FAILED,
    "unauthenticated": words.AUTH_FAILED,
    # Resend's error names.
    "missing_api_key": _KEY,
    "invalid_api_key": _KEY,
    "restricted_api_key": _KEY,
    "invalid_access": words.API_SETUP,
    "invalid_from_address": words.SENDER_ADDRESS,
    "daily_quota_exceeded": _API["api.daily_quota_exceeded"],
    "monthly_quota_exceeded": words.QUOTA,
    "rate_limit_exceeded": words.RATE,
    "internal_server_error": codes.HTTP_UNAVAILABLE,
    "application_error": codes.HTTP_UNAVAILABLE,
    "missing_required_field": words.REQUEST_INVALID,
    "invalid_idempotency_key": words.REQUEST_INVALID,
    # Brevo's codes.
    "unauthorized": _KEY,
    "not_enough_credits": words.API_SETUP,
    # Postmark's ErrorCode numbers (its API reference).
    "errorcode:10": _KEY,
    "errorcode:400": words.SENDER_ADDRESS,
    "errorcode:401": words.SENDER_ADDRESS,
    "errorcode:402": words.REQUEST_INVALID,
    "errorcode:403": words.REQUEST_INVALID,
    "errorcode:406": _API["postmark.inactive_recipient"],
    "errorcode:409": words.REQUEST_INVALID,
    "errorcode:412": words.API_SETUP,
    "errorcode:413": words.SUSPENDED,
    # Mailjet's: broken JSON, a type mismatch.
    "mj-0002": words.REQUEST_INVALID,
    "mj-0004": words.REQUEST_INVALID,
    # SparkPost's extended codes: the API key, the sending domain, the sending limits.
    "1100": _KEY,
    "7001": _API["api.domain_not_verified"],
    "2101": words.QUOTA,
    "2102": words.QUOTA_DAILY,
    "1900": codes.HTTP_UNAVAILABLE,
    # AWS (SES and its IAM): the credentials, the permissions, the sending rate, the account.
    "accessdenied": words.API_SETUP,
    "accessdeniedexception": words.API_SETUP,
    "invalidclienttokenid": _KEY,
    "signaturedoesnotmatch": _KEY,
    "unrecognizedclientexception": _KEY,
    "throttling": words.RATE,
    "throttlingexception": words.RATE,
    "toomanyrequestsexception": words.RATE,
    "accountsendingpausedexception": words.SUSPENDED,
    "sendingpausedexception": words.SUSPENDED,
    "mailfromdomainnotverifiedexception": words.SENDER_ADDRESS,
    "configurationsetdoesnotexist": words.API_SETUP,
    # Postal's.
    "unauthenticatedfromaddress": words.SENDER_ADDRESS,
    "invalidserverapikey": _KEY,
    "norecipients": words.REQUEST_INVALID,
}

# Names of a refused request that say nothing of the cause: its field does (module docstring).
VALIDATION = frozenset(
    (
        "validation_error",
        "invalidargument",
        "invalid_argument",
        "invalid_parameter",
        "missing_parameter",
        "bad_request",
        "invalid_request_error",
        "errorcode:300",
        "mj-0013",
    )
)
_RECIPIENT_FIELDS = ("to", "cc", "bcc", "personalizations", "recipient", "email")
_SENDER_FIELDS = ("from", "sender", "reply_to", "replyto")


def field_entry(fields: frozenset[str]) -> Entry | None:
    """The entry for a validation error by the request field it names, if it names one."""
    named = [field[6:] for field in fields if field.startswith("field:") and field != "field:null"]
    if not named and VALIDATION.isdisjoint(fields):
        return None
    if any(field.startswith(_SENDER_FIELDS) for field in named):
        return words.SENDER_ADDRESS
    if any(field.startswith(_RECIPIENT_FIELDS) for field in named):
        return words.BAD_ADDRESS
    return words.REQUEST_INVALID
