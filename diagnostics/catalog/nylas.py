"""Nylas, and the Datananas wrapper around it: `[status] message - source_error`.

Sources: the product's "Datananas sending errors" table, and Nylas' documentation of its
status codes, error types, sync events and client errors (seeds 000-002).
"""

from __future__ import annotations

from diagnostics.catalog.entry import Entry
from diagnostics.vocabulary import Category as C
from diagnostics.vocabulary import Fix as F

_5XX = (500, 502, 503, 504)
_SUPPORT = ("If it keeps failing, contact support with the raw error.",)

ENTRIES: tuple[Entry, ...] = (
    Entry(
        "nylas.5xx.gmail_api",
        C.TEMPORARY_FAILURE,
        "Gmail was briefly unavailable",
        match=r"error encountered while sending using gmail api",
        http=_5XX,
        examples=("[503] Error encountered while sending using Gmail API - nylas_error",),
        source="seed 000: Datananas sending errors #10",
        fixes=(F.RESYNC_MAILBOX,),
        explanation="Gmail's API failed while sending; the email is retried automatically. "
        "Resynchronize the mailbox if it keeps happening.",
        next_steps=("Wait: the email is rescheduled.", "Resynchronize the mailbox if it recurs."),
    ),
    Entry(
        "nylas.gmail_api",
        C.PROVIDER_ERROR,
        "Gmail refused the send",
        match=r"error encountered while sending using gmail api",
        examples=(
            "[400] Error encountered while sending using Gmail API - <HttpError 400 when "
            "requesting "
            "https://www.googleapis.com/upload/gmail/v1/users/me/messages/send?uploadType=resumable&alt=json"
            ' returned "Bad Request"> - nylas_error',
        ),
        source="seed 000: Datananas sending errors #1",
        fixes=(F.RESYNC_MAILBOX, F.CONTACT_SUPPORT),
        explanation="Gmail's API refused this email without giving a reason. Resynchronize "
        "the mailbox; if the error comes back, hand it to support.",
        next_steps=("Resynchronize the sending mailbox.", *_SUPPORT),
    ),
    Entry(
        "nylas.402.invalid_character",
        C.RECIPIENT_ADDRESS_INVALID,
        "Invalid character in the contact's address",
        match=r"invalid character in (?:the )?recipient address",
        examples=("[402] Invalid character in recipient address",),
        source="seed 000: Datananas sending errors #2",
        fixes=(F.EDIT_CONTACT,),
        explanation="The contact's address contains a character that email addresses cannot "
        "hold. Correct the address and the email is rescheduled.",
        next_steps=("Correct the contact's email address.", "The email is then rescheduled."),
    ),
    Entry(
        "nylas.402.spam",
        C.CONTENT_REJECTED,
        "Blocked as spam",
        match=r"message blocked due to spam content|classified as spam",
        examples=(
            "[402] Message blocked due to spam content in the message. - 550 : This message was "
            "classified as SPAM and may not be delivered - nylas_error",
        ),
        source="seed 000: Datananas sending errors #3",
        fixes=(F.CHECK_BLACKLIST, F.REVIEW_CONTENT),
        explanation="The receiving server classified this email as spam. Check the sending "
        "domain's reputation, then review the step's content.",
        next_steps=(
            "Run the blocklist and MX checks.",
            "Follow the deliverability guide to rework the content.",
        ),
    ),
    Entry(
        "nylas.402.all_recipients_failed",
        C.PROVIDER_ERROR,
        "Sending failed for every recipient",
        match=r"sending to all recipients failed",
        examples=("[402] Sending to all recipients failed - nylas_error",),
        source="seed 000: Datananas sending errors #4",
        fixes=(F.CONTACT_SUPPORT,),
        explanation="The provider refused the email for every recipient without saying why. "
        "Support can find the cause with the raw error.",
    ),
    Entry(
        "nylas.402.recipient_failed",
        C.RECIPIENT_ADDRESS_INVALID,
        "The contact's address was refused",
        match=r"sending to at least one recipient failed",
        examples=(
            "Error 402 - Sending to at least one recipient failed.",
            "[402] Sending to at least one recipient failed: josé.núñez@exämple.com",
        ),
        source="seed 002: Nylas client errors 400-499",
        fixes=(F.EDIT_CONTACT, F.CONTACT_SUPPORT),
        explanation="The provider refused the contact's address, most often because it "
        "holds accents or other non-ASCII characters. Correct the address.",
        next_steps=(
            "Rewrite the address without accents or special characters.",
            *_SUPPORT,
        ),
    ),
    Entry(
        "nylas.403.smtp_auth",
        C.MAILBOX_CONNECTION,
        "The SMTP server refused the mailbox's login",
        match=r"could not authenticate with the smtp server",
        examples=("[403] Could not authenticate with the SMTP server. - nylas_error",),
        source="seed 000: Datananas sending errors #5",
        fixes=(F.RESYNC_MAILBOX, F.ADMIN_SETUP),
        explanation="The mailbox's SMTP server refused its login. Check the SMTP settings "
        "(and that SMTP is allowed for this account), then resynchronize.",
        next_steps=(
            "Check the SMTP host, port and password, and that SMTP is allowed.",
            "Resynchronize the mailbox.",
        ),
    ),
    Entry(
        "nylas.500.internal_error",
        C.TEMPORARY_FAILURE,
        "The sending service had an internal error",
        match=r"an internal error occurred",
        examples=(
            "[500] An internal error occurred. If this issue persists, please contact support and "
            'copy/paste this request_uid: \\"342FB659:BAF8_0A4D0942:01BB_5ECB9725_D73A1:200C\\". '
            "- nylas_error",
        ),
        source="seed 000: Datananas sending errors #6",
        fixes=(F.CONTACT_SUPPORT,),
        explanation="The sending service failed internally; the email is retried. If the "
        "error persists, support needs the request id it gave.",
        next_steps=("Wait for the automatic retry.", "If it persists, send support the id."),
    ),
    Entry(
        "proxy.gateway_error",
        C.TEMPORARY_FAILURE,
        "A gateway in front of the provider failed",
        match=r"nginx_error|haproxy_error|bad gateway|gateway time-?out",
        examples=(
            "[502] Bad Gateway - nginx_error",
            "[503] Service Unavailable - haproxy_error",
        ),
        source="seed 000: Datananas sending errors #7, #11",
    ),
    Entry(
        "nylas.503.database_error",
        C.TEMPORARY_FAILURE,
        "The sending service's database was briefly unavailable",
        match=r"database_error|temporary database error",
        examples=(
            "[503] A temporary database error prevented us from serving this request. Your "
            "message has NOT been sent. Please try again in a few minutes. - database_error",
        ),
        source="seed 000: Datananas sending errors #8",
    ),
    Entry(
        "nylas.5xx.server_error",
        C.TEMPORARY_FAILURE,
        "The sending service had a server error",
        match=r"error occurred in the nylas server|nylas_error",
        http=_5XX,
        examples=(
            "[503] Error - nylas_error",
            "[500] Server Error - An error occurred in the Nylas server. If this persists, see "
            "our status page or contact support.",
        ),
        source="seed 000: Datananas sending errors #9; seed 001: Nylas errors (status codes, "
        "error types, mail sync events)",
        explanation="The sending service failed on its side; the email is retried "
        "automatically. Support can help if it never goes through.",
        next_steps=("Wait for the automatic retries.", *_SUPPORT),
    ),
    Entry(
        "nylas.sync.invalid_sync_state",
        C.MAILBOX_CONNECTION,
        "The mailbox is out of sync",
        match=r"invalid_sync_state",
        examples=("SendingError / invalid_sync_state",),
        source="seed 000: Datananas sending errors #12",
        fixes=(F.RESYNC_MAILBOX, F.CONTACT_SUPPORT),
        explanation="The connection to the sending mailbox is in an invalid state. "
        "Resynchronize the mailbox; contact support if that does not help.",
        next_steps=("Resynchronize the sending mailbox.", *_SUPPORT),
    ),
    Entry(
        "nylas.202.not_ready",
        C.TEMPORARY_FAILURE,
        "The provider was not ready yet",
        match=r"resource wasn't ready|not ready - ",
        examples=(
            "[202] Not Ready - The request was valid, but the resource wasn't ready. Retry the "
            "request with an exponential backoff.",
        ),
        source="seed 001: Nylas errors (status codes, error types, mail sync events)",
    ),
    Entry(
        "nylas.400.invalid_request",
        C.REQUEST_INVALID,
        "Malformed request to the sending API",
        match=r"invalid_request_error|request is malformed|missing a required parameter"
        r"|this server could not understand",
        examples=(
            "[400] Bad Request - The request is malformed or missing a required parameter. - "
            "invalid_request_error",
            '{"type": "invalid_request_error", "message": "The request has an invalid format."}',
            "Error 400 - Bad request: The browser (or proxy) sent a request that this server "
            "could not understand.",
        ),
        source="seed 001: Nylas errors (status codes, error types, mail sync events); seed 002: "
        "Nylas client errors 400-499",
        explanation="Our request to the sending API was malformed: a defect to report. "
        "Support needs the raw error.",
    ),
    Entry(
        "nylas.400.empty_body",
        C.REQUEST_INVALID,
        "Empty request to the sending API",
        match=r"empty request body",
        examples=("[400] Empty request body",),
        source="seed 001: Nylas errors (status codes, error types, mail sync events)",
    ),
    Entry(
        "nylas.401.unauthorized",
        C.MAILBOX_CONNECTION,
        "The sending API did not accept our credentials",
        match=r"could not verify access credentials?|api\.authentication_error",
        examples=(
            "[401] Unauthorized - Could not verify access credential. No valid API key or "
            "access_token was provided.",
            "Error 401 - Unauthorized: Could not verify access credentials.",
            "api.authentication_error | 401 | Unauthorized",
        ),
        source="seed 001: Nylas errors (status codes, error types, mail sync events); seed 002: "
        "Nylas client errors 400-499; developer.nylas.com/docs/api/errors (v3 error types)",
        fixes=(F.RESYNC_MAILBOX, F.ADMIN_SETUP),
        explanation="The mailbox's access token (or our API key) was not accepted. "
        "Resynchronize the mailbox; if that fails, an admin must check the API key.",
        next_steps=("Resynchronize the mailbox.", "If it fails, ask an admin to check the key."),
    ),
    Entry(
        "nylas.423.resource_blocked",
        C.ACCOUNT_SUSPENDED,
        "The sending platform blocked the resource",
        match=r"resource_blocked|resource blocked, contact",
        examples=("api.resource_blocked | 423 | Resource blocked, contact administrator.",),
        source="developer.nylas.com/docs/api/errors (v3 error types)",
    ),
    Entry(
        "nylas.402.payment_required",
        C.ACCOUNT_SETUP,
        "The sending platform's billing needs attention",
        match=r"payment required|credit card must be added",
        examples=("[402] Payment Required - A credit card must be added to your organization.",),
        source="seed 001: Nylas errors (status codes, error types, mail sync events)",
        fixes=(F.ADMIN_SETUP, F.CONTACT_SUPPORT),
        explanation="The sending platform's account needs a payment method. An admin must "
        "update billing before emails can go out.",
        next_steps=("Ask an admin to add a payment method on the platform account.",),
    ),
    Entry(
        "nylas.402.request_failed",
        C.PROVIDER_ERROR,
        "The provider refused the send",
        match=r"request failed",
        http=(402,),
        examples=(
            "[402] Request Failed - The request parameters were valid, but the request failed.",
        ),
        source="seed 001: Nylas errors (status codes, error types, mail sync events)",
        fixes=(F.CONTACT_SUPPORT,),
    ),
    Entry(
        "nylas.403.forbidden",
        C.ACCOUNT_SETUP,
        "The sending application is blocked",
        match=r"blocked developer applications",
        examples=(
            "[403] Forbidden - The request includes authentication errors, blocked developer "
            "applications, and cancelled accounts. - api_error",
        ),
        source="seed 001: Nylas errors (status codes, error types, mail sync events)",
        fixes=(F.ADMIN_SETUP, F.RESYNC_MAILBOX),
        explanation="The platform refused the request: an authentication error, a blocked "
        "application or a cancelled account. An admin must check the account.",
    ),
    Entry(
        "nylas.403.provider_auth",
        C.MAILBOX_CONNECTION,
        "The mailbox's provider refused the login",
        match=r"authenticate with the end user's email provider|error authenticating",
        examples=(
            "Error authenticating; stopping sync.",
            "Error 403 - Unauthorized: The server wasn't able to authenticate with the end user's "
            "email provider.",
        ),
        source="seed 001: Nylas errors (status codes, error types, mail sync events); seed 002: "
        "Nylas client errors 400-499",
        fixes=(F.RESYNC_MAILBOX,),
        explanation="The mailbox's provider no longer accepts its login. Reconnect the "
        "mailbox to re-authenticate it.",
    ),
    Entry(
        "nylas.403.different_address",
        C.MAILBOX_CONNECTION,
        "A different account was connected",
        match=r"different email address returned",
        examples=(
            "Error 403 - Different email address returned: Microsoft 365 returned a different "
            "email address from the one that started the authentication process.",
        ),
        source="seed 002: Nylas client errors 400-499",
        fixes=(F.RESYNC_MAILBOX, F.ADMIN_SETUP),
        explanation="The provider signed in another account (or an alias) than the mailbox "
        "being connected. Reconnect with the mailbox's own account.",
        next_steps=("Reconnect the mailbox, signing in with its own address.",),
    ),
    Entry(
        "nylas.404.not_found",
        C.PROVIDER_ERROR,
        "The provider could not find the item",
        match=r"requested item doesn't exist|requested item does not exist",
        examples=("[404] Not Found - The requested item doesn't exist.",),
        source="seed 001: Nylas errors (status codes, error types, mail sync events)",
        fixes=(F.CONTACT_SUPPORT,),
    ),
    Entry(
        "nylas.405.method_not_allowed",
        C.REQUEST_INVALID,
        "Wrong method in the request to the sending API",
        match=r"invalid method|method not allowed",
        examples=(
            "[405] Method Not Allowed - You tried to access a resource with an invalid method.",
        ),
        source="seed 001: Nylas errors (status codes, error types, mail sync events)",
    ),
    Entry(
        "nylas.410.gone",
        C.PROVIDER_ERROR,
        "The item was removed from the provider",
        match=r"removed from our servers",
        examples=("[410] Gone - The requested resource has been removed from our servers.",),
        source="seed 001: Nylas errors (status codes, error types, mail sync events)",
        fixes=(F.CONTACT_SUPPORT,),
    ),
    Entry(
        "nylas.413.too_large",
        C.MESSAGE_TOO_LARGE,
        "Message too large for the sending API",
        match=r"request entity too large|exceeds capacity limit",
        examples=(
            "[413] Request Entity Too Large - Transmitted data value exceeds capacity limit for "
            "Send and Files requests.",
        ),
        source="seed 001: Nylas errors (status codes, error types, mail sync events)",
    ),
    Entry(
        "nylas.418.teapot",
        C.REQUEST_INVALID,
        "Unexpected answer from the sending API",
        match=r"teapot",
        examples=("[418] I'm a teapot.",),
        source="seed 001: Nylas errors (status codes, error types, mail sync events)",
        explanation="The sending API gave a joke status that means nothing here: our "
        "request went somewhere unexpected. Support needs the raw error.",
    ),
    Entry(
        "nylas.422.submission_failed",
        C.ACCOUNT_SETUP,
        "The provider refused the sender address",
        match=r"message delivery submission failed",
        examples=("Error 422 - Sending Error: Message delivery submission failed.",),
        source="seed 002: Nylas client errors 400-499",
        fixes=(F.ADMIN_SETUP, F.RESYNC_MAILBOX),
        explanation="The provider refused to submit the email, usually because it was sent "
        "from an address other than the connected mailbox's. Fix the sender address.",
        next_steps=("Send from the connected mailbox's own address, or add it as an alias.",),
    ),
    Entry(
        "nylas.422.sending_error",
        C.PROVIDER_ERROR,
        "The provider failed while sending",
        match=r"returned during the sending process|mail provider error"
        r"|error occurred while the email provider was sending",
        examples=(
            "[422] Sending Error - This response returned during the sending process.",
            "Error 422 - Mail provider error: An error occurred while the email provider was "
            "sending an email message.",
        ),
        source="seed 001: Nylas errors (status codes, error types, mail sync events); seed 002: "
        "Nylas client errors 400-499",
        fixes=(F.CONTACT_SUPPORT, F.RESYNC_MAILBOX),
        explanation="The mailbox's provider failed while sending, without more detail. "
        "Support can read the provider's own error.",
    ),
    Entry(
        "nylas.429.exchange_throttled",
        C.RATE_LIMITED,
        "Exchange is throttling the mailbox",
        match=r"exchange account throttled",
        examples=(
            "Error 429 - Exchange account throttled: The Exchange account has been throttled or "
            "sync has been temporarily paused.",
        ),
        source="seed 002: Nylas client errors 400-499",
        # Nylas documents Exchange throttling as typically lasting 20 minutes.
        retry_after=1200,
    ),
    Entry(
        "nylas.429.account_throttled",
        C.RATE_LIMITED,
        "The mailbox's provider asked us to slow down",
        match=r"account throttled|asked nylas to temporarily stop",
        examples=(
            "Error 429 - Account throttled: The email server has asked Nylas to temporarily stop "
            "making requests.",
        ),
        source="seed 002: Nylas client errors 400-499",
    ),
    Entry(
        "nylas.429.sending_quota",
        C.QUOTA_EXCEEDED,
        "The mailbox's daily sending quota is used up",
        match=r"exceeded their email provider's sending quota"
        r"|gmail account has exceeded the usage limit",
        examples=(
            "Error 429 - Quota exceeded: The end user has exceeded their email provider's sending "
            "quota.",
            "Error 429 - Too many requests: The Gmail account has exceeded the usage limit.",
        ),
        source="seed 002: Nylas client errors 400-499",
    ),
    Entry(
        "nylas.429.rate_limit",
        C.RATE_LIMITED,
        "Too many requests to the sending API",
        match=r"slow down!|nylas api rate limit|rate limiting error"
        r"|too many requests sent to provider",
        examples=(
            "[429] Too Many Requests - Slow down! If you legitimately require this many requests, "
            "please contact support.",
            "Error 429 - Nylas API rate limit: You made too many requests to the Nylas APIs too "
            "quickly.",
            "Rate limiting error when fetching email",
            "Too many requests sent to provider",
        ),
        source="seed 001: Nylas errors (status codes, error types, mail sync events); seed 002: "
        "Nylas client errors 400-499",
    ),
    Entry(
        "nylas.504.provider_error",
        C.TEMPORARY_FAILURE,
        "The mailbox's provider did not answer in time",
        match=r"check with your service provider|api\.provider_error",
        examples=(
            "[504] Provider Error - Please wait and try again. If the problem persists, check "
            "with your service provider.",
            "api.provider_error | 504 | Provider error message. (Specific Provider HTTP code "
            "response possible.)",
        ),
        source="seed 001: Nylas errors (status codes, error types, mail sync events); "
        "developer.nylas.com/docs/api/errors (v3 error types)",
    ),
    Entry(
        "nylas.api_error",
        C.TEMPORARY_FAILURE,
        "The sending API had a general error",
        match=r"general api error",
        examples=('{"type": "api_error", "message": "A general API error occurred."}',),
        source="seed 001: Nylas errors (status codes, error types, mail sync events)",
    ),
    Entry(
        "nylas.provider_error",
        C.PROVIDER_ERROR,
        "The mailbox's provider failed",
        match=r"underlying account's provider",
        examples=(
            '{"type": "provider_error", "message": "An error with the underlying account\'s '
            'provider has occurred."}',
        ),
        source="seed 001: Nylas errors (status codes, error types, mail sync events)",
        fixes=(F.CONTACT_SUPPORT, F.RESYNC_MAILBOX),
    ),
    Entry(
        "nylas.sync.reauthenticate",
        C.MAILBOX_CONNECTION,
        "The mailbox must be reconnected",
        match=r"must reauthenticate|invalid credentails|invalid credentials response",
        examples=(
            "Invalid credentails response to sync request; aborting sync. User must "
            "reauthenticate.",
        ),
        source="seed 001: Nylas errors (status codes, error types, mail sync events)",
        fixes=(F.RESYNC_MAILBOX,),
        explanation="The mailbox's credentials changed, so syncing stopped. Reconnect the "
        "mailbox to authenticate it again.",
    ),
    Entry(
        "nylas.sync.stopped",
        C.MAILBOX_CONNECTION,
        "Syncing the mailbox stopped",
        match=r"max eas failures|max_uid_resyncs|missing folder",
        examples=(
            "Max EAS failures reached, terminating folder sync.",
            "Resynced more than MAX_UID_RESYNCS in a row. Stopping sync.",
            "Folder state loading failed due to missing folder.",
        ),
        source="seed 001: Nylas errors (status codes, error types, mail sync events)",
        fixes=(F.RESYNC_MAILBOX, F.CONTACT_SUPPORT),
        explanation="The provider stopped syncing this mailbox after repeated failures. "
        "Resynchronize it; contact support if it stops again.",
        next_steps=("Resynchronize the mailbox.", *_SUPPORT),
    ),
    Entry(
        "nylas.sync.transient",
        C.TEMPORARY_FAILURE,
        "A sync step failed and is being repeated",
        match=r"resyncing folder hierarchy|batch-level sync error|parse api error response",
        examples=(
            "Couldn't parse API error response.",
            "Object not found, resyncing folder hierarchy.",
            "Encountered batch-level sync error; not persisting data for affected folder.",
        ),
        source="seed 001: Nylas errors (status codes, error types, mail sync events)",
    ),
    Entry(
        "nylas.sync.unparsable_message",
        C.PROVIDER_ERROR,
        "The provider could not read a message",
        match=r"failed to parse message",
        examples=("Failed to parse message.",),
        source="seed 001: Nylas errors (status codes, error types, mail sync events)",
        fixes=(F.CONTACT_SUPPORT,),
    ),
    Entry(
        "nylas.webhook_email",
        C.PROVIDER_ERROR,
        "A notification email failed (not a contact email)",
        match=r"webhook notification email",
        examples=(
            "Maxed out retries failing to send webhook notification email.",
            "Error sending webhook notification email.",
        ),
        source="seed 001: Nylas errors (status codes, error types, mail sync events)",
        fixes=(F.CONTACT_SUPPORT,),
        explanation="The platform failed to send one of its own notification emails; no "
        "contact email is affected. Support can follow it up.",
    ),
    Entry(
        "nylas.400.redirect_uri",
        C.ACCOUNT_SETUP,
        "The app's redirect address is not allowed",
        match=r"redirect uri",
        examples=("Error 400 - Redirect URI is not HTTPS or localhost",),
        source="seed 002: Nylas client errors 400-499",
        fixes=(F.ADMIN_SETUP,),
    ),
    Entry(
        "nylas.400.password_entry",
        C.ACCOUNT_SETUP,
        "This provider needs the app-based sign-in",
        match=r"does not allow direct password entry",
        examples=(
            "Error 400 - This proposal does not allow direct password entry. Please restart the "
            "authentication flow.",
        ),
        source="seed 002: Nylas client errors 400-499",
        fixes=(F.ADMIN_SETUP, F.RESYNC_MAILBOX),
        explanation="The provider refuses password sign-in for this mailbox: an admin must "
        "set up the app-based (OAuth) connection, then reconnect it.",
    ),
    Entry(
        "nylas.400.revoked_token",
        C.MAILBOX_CONNECTION,
        "The mailbox's authorization was revoked",
        match=r"invalid or revoked refresh token",
        examples=("Error 400 - Authentication failed: Invalid or revoked refresh token.",),
        source="seed 002: Nylas client errors 400-499",
        fixes=(F.RESYNC_MAILBOX, F.ADMIN_SETUP),
    ),
)
