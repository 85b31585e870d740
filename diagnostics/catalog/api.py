"""Sending APIs: named error codes and the messages of Gmail API, Microsoft Graph, SES,
SendGrid, Postmark and Mailgun that recur in the product's sending errors.

Sources: seed 003 (SMTP/API error codes reference, its `{"error": {"code": …}}` bodies
and bare API error names), and each provider's error documentation.
"""

from __future__ import annotations

from diagnostics.catalog.entry import Entry
from diagnostics.vocabulary import Category as C
from diagnostics.vocabulary import Fix as F

# The OAuth 2.0 token endpoints' refusals of a refresh (or of a code used too late): the
# mailbox's grant is gone, and only its user signing in again (consent) brings it back.
_SIGN_IN_AGAIN = (
    "Open the mailbox's page and sign in with its provider again: the held emails are then "
    "rescheduled.",
    "If it happens again soon, ask the mailbox's admin whether a policy revokes the app's access.",
)

ENTRIES: tuple[Entry, ...] = (
    Entry(
        "oauth.google_grant_revoked",
        C.MAILBOX_CONNECTION,
        "Google's authorization of the mailbox expired or was revoked",
        match=r"token has been expired or revoked",
        examples=(
            "invalid_grant: Token has been expired or revoked.",
            '{\n "error": "invalid_grant",\n "error_description": "Token has been expired or '
            'revoked."\n}\n',
        ),
        source="Google Identity, OAuth 2.0 for web server apps: refresh token expiration; "
        "github.com/FlowCrypt/flowcrypt-browser/issues/1165",
        fixes=(F.RESYNC_MAILBOX,),
        explanation="Google refused to renew the mailbox's sign-in: its user removed the "
        "product's access, changed the password, or the authorization went unused for six "
        "months. Nothing is sent from it until someone signs in with Google again.",
        next_steps=_SIGN_IN_AGAIN,
    ),
    Entry(
        "oauth.microsoft_grant_expired",
        C.MAILBOX_CONNECTION,
        "Microsoft's authorization of the mailbox expired",
        match=r"aadsts70008|aadsts700082",
        examples=(
            "invalid_grant: AADSTS700082: The refresh token has expired due to inactivity. The "
            "token was issued on 2026-08-01T09:12:44.000000Z and was inactive for 90.00:00:00.",
            "invalid_grant: AADSTS70008: The provided authorization code or refresh token has "
            "expired due to inactivity. Send a new interactive authorization request for this "
            "user and resource.",
        ),
        source="Microsoft Entra authentication and authorization error codes (AADSTS70008, "
        "AADSTS700082)",
        fixes=(F.RESYNC_MAILBOX,),
        explanation="Microsoft refused to renew the mailbox's sign-in: its authorization went "
        "unused too long and expired. Nothing is sent from it until someone signs in with "
        "Microsoft again.",
        next_steps=_SIGN_IN_AGAIN,
    ),
    Entry(
        "oauth.microsoft_grant_revoked",
        C.MAILBOX_CONNECTION,
        "Microsoft's authorization of the mailbox was revoked",
        match=r"aadsts50173",
        examples=(
            "invalid_grant: AADSTS50173: The provided grant has expired due to it being revoked, "
            "a fresh auth token is needed. The user might have changed or reset their password. "
            "The grant was issued on '2026-11-02T10:01:13.000000Z' and the TokensValidFrom date "
            "(before which tokens are not valid) for this user is '2026-12-01T08:00:00.000000Z'.",
        ),
        source="Microsoft Entra authentication and authorization error codes (AADSTS50173)",
        fixes=(F.RESYNC_MAILBOX,),
        explanation="Microsoft refused to renew the mailbox's sign-in: it was revoked (the "
        "user changed or reset the password, or an admin revoked the sessions). Nothing is sent "
        "from it until someone signs in with Microsoft again.",
        next_steps=_SIGN_IN_AGAIN,
    ),
    Entry(
        "api.invalid_api_key",
        C.ACCOUNT_SETUP,
        "The sending API key is invalid",
        match=r"invalid_api_key|api key provided is invalid|invalid api key|api key required"
        r"|authorization grant is invalid|key not found|api key authentication/authorization"
        r"|incorrect api key|api key is invalid|authentication not found in headers",
        examples=(
            '{"error": {"code": "invalid_api_key", "message": "The API key provided is invalid or '
            'expired."}}',
            "invalid_api_key",
            '{"errors":[{"message":"The provided authorization grant is invalid, expired, or '
            'revoked","field":null,"help":null}]}',
            '{"message":"Key not found","code":"unauthorized"}',
            "Error 401 // Unauthorized You have specified an incorrect Api Key / API Secret Key. "
            "You may be unauthorized to access the API or your API key may be expired. Visit API "
            "keys Management section to check your keys.",
        ),
        source="seed 003: SMTP/API error codes reference (as a JSON body and as the bare name); "
        "SendGrid v3 API errors; Brevo, github.com/sendinblue/APIv3-python-library/issues/63; "
        "Mailjet, github.com/mailjet/mailjet-apiv3-php-no-composer/issues/1",
        fixes=(F.ADMIN_SETUP,),
        explanation="The sending service rejected our API key: it is wrong, expired or "
        "revoked. An admin must generate a new key.",
        next_steps=("Ask an admin to regenerate the API key and save it.",),
    ),
    # A sending API's client library names the HTTP reason and nothing else: the key or its
    # permissions (SendGrid, Mailgun, Brevo and Mailjet answer a bad key so).
    Entry(
        "api.unauthorized",
        C.ACCOUNT_SETUP,
        "The sending API refused the credentials",
        match=r"responseerror: unauthorized|responseerror: forbidden|error: unauthorized"
        r"|error: forbidden|reason: unauthorized|access forbidden|forbiddenerror"
        r"|unauthorized\): 'forbidden'",
        examples=(
            "ResponseError: Unauthorized\n    at Request._callback (C:\\Users\\HP\\Documents"
            "\\personal\\node_js\\shopping\\shopping-app\\node_modules\\@sendgrid\\client"
            "\\src\\classes\\client.js:124:25)",
            "python_http_client.exceptions.ForbiddenError: HTTP Error 403: Forbidden",
            "[Error: Unauthorized] { status: 401, details: 'Forbidden' }",
            '{\n    "errors": [\n        {\n            "field": null,\n            "message": '
            '"access forbidden"\n        }\n    ]\n}',
        ),
        source="SendGrid, github.com/nodemailer/nodemailer-sendgrid/issues/16, "
        "github.com/sendgrid/sendgrid-python/issues/978 and "
        "github.com/sendgrid/sendgrid-nodejs/issues/1075; Mailgun, "
        "github.com/theoomoregbee/US-visa-appointment-notifier/issues/5",
        fixes=(F.ADMIN_SETUP, F.RESYNC_MAILBOX),
        explanation="The sending service refused our API key, or the key lacks the permission "
        "to send (or the sender is not verified). An admin must check the key and the sender.",
        next_steps=("Ask an admin to check the API key, its permissions and the sender.",),
    ),
    Entry(
        "mailgun.domain_not_found",
        C.ACCOUNT_SETUP,
        "The sending domain is not set up at the provider",
        match=r"domain not found: \S",
        examples=('{\n  "message": "Domain not found: my-domain.co.uk"\n}',),
        source="Mailgun API, github.com/mailgun/mailgun-ruby/issues/171",
        fixes=(F.ADMIN_SETUP,),
        explanation="The sending service does not know the sending domain (not added, or added "
        "in another region). An admin must fix the domain or the API region.",
    ),
    # Mailgun's "Domain <d> is not allowed to send: <reason>": the reason decides, and a
    # recipient limit resets by itself (HTTP 420, or 421 over SMTP, "try again after …").
    Entry(
        "mailgun.recipient_limit",
        C.QUOTA_EXCEEDED,
        "The sending domain's recipient limit is used up",
        match=r"not allowed to send: recipient limit exceeded",
        examples=(
            '"Mailgun Error 420: Domain mg.domain.tld is not allowed to send: recipient limit '
            'exceeded, try again after Wed, 22 Feb 2023 10:04:01 UTC"',
            "Net::SMTPUnknownError: could not get 3xx (421: 421 Domain timeoverflow.org is not "
            "allowed to send: recipient limit exceeded, try again after Sun, 05 Oct 2025 19:22:44 "
            "UTC )",
        ),
        source="Mailgun, github.com/TryGhost/Ghost/issues/15725 and "
        "github.com/coopdevs/timeoverflow/issues/820",
        explanation="Mailgun limits how many recipients the sending domain may reach in a "
        "period (new or probation accounts). The email is sent again once the period resets.",
    ),
    Entry(
        "api.invalid_recipient",
        C.RECIPIENT_ADDRESS_INVALID,
        "Invalid contact address",
        match=r"invalid_recipient",
        examples=(
            '{"error": {"code": "invalid_recipient", "message": "The recipient email address has '
            'invalid syntax."}}',
            "invalid_recipient",
        ),
        source="seed 003: SMTP/API error codes reference (as a JSON body and as the bare name)",
        fixes=(F.EDIT_CONTACT,),
        explanation="The sending service says the contact's address has invalid syntax. "
        "Correct the address and the email is rescheduled.",
        next_steps=("Correct the contact's address.", "Validate addresses when importing."),
    ),
    Entry(
        "api.domain_not_verified",
        C.ACCOUNT_SETUP,
        "The sending domain is not verified",
        match=r"domain_not_verified|sending domain hasn't been verified",
        examples=(
            '{"error": {"code": "domain_not_verified", "message": "The sending domain hasn\'t '
            'been verified."}}',
            "domain_not_verified",
        ),
        source="seed 003: SMTP/API error codes reference (as a JSON body and as the bare name)",
        fixes=(F.ADMIN_SETUP, F.CHECK_DNS_AUTH),
        explanation="The sending service will not send for a domain it has not verified. "
        "An admin must finish the domain verification (DNS records).",
        next_steps=("Ask an admin to complete the domain verification.",),
    ),
    Entry(
        "api.ip_not_warmed",
        C.ACCOUNT_SETUP,
        "The sending IP is still warming up",
        match=r"ip_not_warmed|completed warmup|ip is still warming",
        examples=(
            '{"error": {"code": "ip_not_warmed", "message": "The sending IP hasn\'t completed '
            'warmup."}}',
            "ip_not_warmed",
        ),
        source="seed 003: SMTP/API error codes reference (as a JSON body and as the bare name)",
        fixes=(F.CONTACT_SUPPORT, F.ADMIN_SETUP),
        explanation="The sending IP has not finished its warm-up, so the provider limits what "
        "it sends. Wait for the warm-up to end, or ask support.",
        next_steps=("Wait for the warm-up to finish.", "Contact support if it is urgent."),
    ),
    Entry(
        "api.rate_limited",
        C.RATE_LIMITED,
        "Sending rate limit reached",
        match=r"rate_limited",
        examples=(
            '{"error": {"code": "rate_limited", "message": "You\'ve exceeded your sending rate '
            'limit."}}',
            "rate_limited",
        ),
        source="seed 003: SMTP/API error codes reference (as a JSON body and as the bare name)",
    ),
    Entry(
        "api.attachment_too_large",
        C.MESSAGE_TOO_LARGE,
        "Attachment too large",
        match=r"attachment_too_large|attachment exceeds",
        examples=(
            '{"error": {"code": "attachment_too_large", "message": "Email attachment exceeds 10MB '
            'limit."}}',
            "attachment_too_large",
        ),
        source="seed 003: SMTP/API error codes reference (as a JSON body and as the bare name)",
        explanation="An attachment is bigger than the provider allows (10 MB). Link the file "
        "instead of attaching it, then reschedule.",
        next_steps=("Replace the attachment with a link.", "Then reschedule."),
    ),
    Entry(
        "api.daily_quota_exceeded",
        C.QUOTA_EXCEEDED,
        "Daily sending quota reached",
        match=r"daily_quota_exceeded",
        examples=(
            '{"error": {"code": "daily_quota_exceeded", "message": "Daily sending quota has been '
            'reached."}}',
            "daily_quota_exceeded",
        ),
        source="seed 003: SMTP/API error codes reference (as a JSON body and as the bare name)",
        explanation="The daily sending quota is used up. The email goes out automatically "
        "after the reset at midnight UTC; upgrade the plan if this happens often.",
        next_steps=("Nothing to do: it is sent after the reset.", "Consider a larger plan."),
    ),
    Entry(
        "gmail.api_disabled",
        C.ACCOUNT_SETUP,
        "The Gmail API is not enabled",
        match=r"api has not been used in project",
        examples=(
            "Error 403 - Gmail API has not been used in project 612004567891 before or it is "
            "disabled.",
        ),
        source="seed 002: Nylas client errors 400-499",
        fixes=(F.ADMIN_SETUP,),
        explanation="The Gmail API is disabled in the Google Cloud project used to send. An "
        "admin must enable it, then the emails are rescheduled.",
        next_steps=("Ask an admin to enable the Gmail API in the Google Cloud project.",),
    ),
    Entry(
        "google.resource_exhausted",
        C.RATE_LIMITED,
        "Google's per-second request quota is used up",
        match=r"resource has been exhausted|resource_exhausted",
        examples=("Error 429 - Resource has been exhausted (e.g. check quota).",),
        source="seed 002: Nylas client errors 400-499",
    ),
    Entry(
        "google.quota_per_minute",
        C.QUOTA_EXCEEDED,
        "Per-minute request quota used up",
        match=r"queries per minute|quota\b[^.]{0,80}?per minute",
        examples=(
            "(Server Error:\n"
            "<HttpError 403 \"Quota exceeded for quota metric 'Queries' and limit 'Queries per "
            "minute per user' of service 'gmail.googleapis.com' for consumer "
            "'project_number:XXXXXXXXXX'.\">)",
        ),
        source="Nylas support: Quota exceeded error",
        # The quota the text names resets every minute.
        retry_after=60,
    ),
    Entry(
        "graph.throttled",
        C.RATE_LIMITED,
        "Microsoft is throttling the application",
        match=r"mailboxconcurrency|applicationthrottled|application is over its",
        examples=(
            "Error 429 - Application is over its MailboxConcurrency limit.",
            'Error: 429 : {"error":{"code":"ApplicationThrottled","message":"Application is over '
            'its MailboxConcurrency limit."}}',
            "Error Message: Application is over its IncomingBytes limit.",
        ),
        source="seed 002: Nylas client errors 400-499; Graph 429, "
        "github.com/magodo/terraform-provider-outlook/issues/21; Graph throttling, "
        "github.com/O365/python-o365/issues/500",
    ),
    Entry(
        "exchange.eas_retry_later",
        C.RATE_LIMITED,
        "Exchange asked us to retry later",
        match=r"device should retry later",
        examples=("503 The server encountered an unknown error, the device SHOULD retry later.",),
        source="seed 002: Nylas client errors 400-499",
    ),
    Entry(
        "sendgrid.sender_identity",
        C.ACCOUNT_SETUP,
        "The sender address is not verified",
        match=r"verified sender identity|not authorized to send from that email address",
        examples=(
            "403 You are not authorized to send from that email address",
            "550 The from address does not match a verified Sender Identity. Mail cannot be sent "
            "until this error is resolved. Visit "
            "https://sendgrid.com/docs/for-developers/sending-email/sender-identity/ to see the "
            "Sender Identity requirements",
        ),
        source="SendGrid SMTP errors and troubleshooting; SendGrid SMTP, "
        "github.com/sahat/hackathon-starter/issues/1083",
        fixes=(F.ADMIN_SETUP,),
        explanation="The sending service only sends from verified sender addresses, and this "
        "one is not. An admin must verify the address or its domain.",
        next_steps=("Ask an admin to verify the sender address or domain.",),
    ),
    Entry(
        "ses.identity_not_verified",
        C.ACCOUNT_SETUP,
        "The sender address is not verified in Amazon SES",
        match=r"identities failed the check|email address is not verified",
        examples=(
            "MessageRejected: Email address is not verified. The following identities failed the "
            "check in region US-EAST-1: sender@example.com",
            "554 Message rejected: Email address is not verified. The following identities failed "
            "the check in region US-WEST-2: sender@example.com",
        ),
        source="Amazon SES email sending errors; SMTP response codes returned by Amazon SES",
        fixes=(F.ADMIN_SETUP, F.CHECK_DNS_AUTH),
        explanation="Amazon SES only sends from verified identities, and the sender is not "
        "one. An admin must verify the address or domain in SES.",
    ),
    Entry(
        "ses.address_syntax",
        C.RECIPIENT_ADDRESS_INVALID,
        "Invalid contact address",
        match=r"missing final '@domain'|local address contains control or whitespace"
        r"|domain contains control or whitespace|domain ends with dot|domain starts with dot",
        examples=(
            "Missing final '@domain'",
            "Local address contains control or whitespace",
        ),
        source="Amazon SES email sending errors",
        fixes=(F.EDIT_CONTACT,),
    ),
    Entry(
        "postmark.inactive_recipient",
        C.RECIPIENT_UNKNOWN,
        "The recipient is suppressed by the sending service",
        match=r"marked as inactive|inactiverecipient|recipient address was suppressed",
        examples=(
            "You tried to send to recipient(s) that have been marked as inactive. Found inactive "
            "addresses: HardBounce@bounce-testing.postmarkapp.com. Inactive recipients are ones "
            "that have generated a hard bounce, a spam complaint, or a manual suppression.",
            "422\n"
            "You tried to send to a recipient that has been marked as inactive.\n"
            "Found inactive addresses: test@test.com.\n"
            "Inactive recipients are ones that have generated a hard bounce or a spam complaint.\n"
            "406",
        ),
        source="Postmark 406, github.com/ActiveCampaign/postmark-gem/issues/128; Postmark 406, "
        "github.com/ActiveCampaign/postmark-php/issues/35",
        explanation="The sending service refuses this address because it bounced hard, "
        "complained or was suppressed before. It is not emailed again.",
    ),
    # Graph and EWS speak of the mailbox the request acts on, the sender's own: a full one
    # there is the sender's to clear, never the contact's full mailbox (words.py's 5.2.2).
    Entry(
        "graph.mailbox_quota",
        C.ACCOUNT_SETUP,
        "The sending mailbox is over its storage quota",
        match=r"errorquotaexceeded|code\"?\s*:\s*\"quotaexceededexception",
        examples=(
            'ReplyBodyError: { ErrorCode: "ErrorQuotaExceeded", ErrorMessage: "Mailbox has '
            'exceeded maximum mailbox size." }"',
            '{\n  "error": {\n    "code": "QuotaExceededException",\n    "message": "Target '
            'mailbox quota exceeded.",\n    "innerError": {\n      "request-id": '
            '"9e98b005-0229-45a8-b40d-b840e35063f4",\n      "date": "2019-12-10T15:22:24"\n    }'
            "\n  }\n}",
        ),
        source="Microsoft Graph, github.com/microsoftgraph/microsoft-graph-docs/issues/2927 and "
        "github.com/microsoftgraph/microsoft-graph-docs-contrib/issues/6177",
        fixes=(F.ADMIN_SETUP, F.CONTACT_SUPPORT),
        explanation="The sending mailbox is over its storage quota, so the provider refuses to "
        "save or send more from it. An admin must free space or raise the mailbox's quota.",
        next_steps=("Ask an admin to free space in the sending mailbox.", "Then reschedule."),
    ),
    # Mandrill answers 200 with a per-recipient status; these reasons are the sender's.
    Entry(
        "mandrill.rejected_sender",
        C.ACCOUNT_SETUP,
        "The sending service refused the sender",
        match=r"reject_reason\W+(?:invalid-sender|unsigned)|rejectionreason\W+invalid-sender",
        examples=(
            '[\n    {\n        "email": "user@example.org",\n        "status": "rejected",\n'
            '        "_id": "SOME_ID",\n        "reject_reason": "invalid-sender"\n    }\n]',
            "[0] => Array\n        (\n            [email] => test@test.com\n            [status]"
            " => rejected\n            [_id] => 4d9fba17f3ea47dca81381ae266d8d9b\n            "
            "[reject_reason] => unsigned\n        )",
        ),
        source="Mandrill, github.com/renz45/mandrill_mailer/issues/95 and /issues/113",
        fixes=(F.ADMIN_SETUP, F.CHECK_DNS_AUTH),
        explanation="The sending service refused the sender: its address is invalid or its "
        "domain is not verified and signed. An admin must fix the sender or the domain.",
        next_steps=("Ask an admin to verify the sending domain and sender.", "Then reschedule."),
    ),
    Entry(
        "mailgun.sandbox",
        C.ACCOUNT_SETUP,
        "The sending domain is a test sandbox",
        match=r"sandbox subdomains are for test|free accounts are for test",
        examples=(
            "Domain sandboxe1164ceef2a340a89c348279b0dde46b.mailgun.org is not allowed to send: "
            "Sandbox subdomains are for test purposes only. Please add your own domain or add the "
            "address to authorized recipients in Account Settings.",
            "Domain example.com is not allowed to send: Free accounts are for test purposes only. "
            "Please upgrade or add the address to authorized recipients in Account Settings.",
        ),
        source="Mailgun API, 403, github.com/theoomoregbee/US-visa-appointment-notifier/issues/5; "
        "Mailgun API, github.com/mailgun/wordpress-plugin/issues/68",
        fixes=(F.ADMIN_SETUP,),
        explanation="The sending domain is the provider's test sandbox, which only reaches "
        "authorized recipients. An admin must add the real sending domain.",
    ),
    # After the sandbox, whose words name the cause better.
    Entry(
        "mailgun.not_allowed",
        C.ACCOUNT_SETUP,
        "The sending domain may not send yet",
        match=r"is not allowed to send:",
        examples=(
            "421, b'Domain sandbox[XXXXX].mailgun.org is not allowed to send: Please activate your "
            "Mailgun account. Check your inbox or log in to your control panel to resend the "
            "activation email.",
        ),
        source="Mailgun, github.com/Monstarrrr/rebutify/issues/162",
        fixes=(F.ADMIN_SETUP,),
        explanation="Mailgun does not let this domain send (an account to activate, a sandbox "
        "domain, a free plan). An admin must finish the account's setup.",
    ),
)
