"""Sending APIs: named error codes and the messages of Gmail API, Microsoft Graph, SES,
SendGrid, Postmark and Mailgun that recur in the product's sending errors.

Sources: seed 003 (SMTP/API error codes reference, its `{"error": {"code": …}}` bodies
and bare API error names), and each provider's error documentation.
"""

from __future__ import annotations

from diagnostics.catalog.entry import Entry
from diagnostics.vocabulary import Category as C
from diagnostics.vocabulary import Fix as F

ENTRIES: tuple[Entry, ...] = (
    Entry(
        "api.invalid_api_key",
        C.ACCOUNT_SETUP,
        "The sending API key is invalid",
        match=r"invalid_api_key|api key provided is invalid|invalid api key|api key required"
        r"|authorization grant is invalid",
        fixes=(F.ADMIN_SETUP,),
        explanation="The sending service rejected our API key: it is wrong, expired or "
        "revoked. An admin must generate a new key.",
        next_steps=("Ask an admin to regenerate the API key and save it.",),
    ),
    Entry(
        "api.invalid_recipient",
        C.RECIPIENT_ADDRESS_INVALID,
        "Invalid contact address",
        match=r"invalid_recipient",
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
    ),
    Entry(
        "api.attachment_too_large",
        C.MESSAGE_TOO_LARGE,
        "Attachment too large",
        match=r"attachment_too_large|attachment exceeds",
        explanation="An attachment is bigger than the provider allows (10 MB). Link the file "
        "instead of attaching it, then reschedule.",
        next_steps=("Replace the attachment with a link.", "Then reschedule."),
    ),
    Entry(
        "api.daily_quota_exceeded",
        C.QUOTA_EXCEEDED,
        "Daily sending quota reached",
        match=r"daily_quota_exceeded",
        explanation="The daily sending quota is used up. The email goes out automatically "
        "after the reset at midnight UTC; upgrade the plan if this happens often.",
        next_steps=("Nothing to do: it is sent after the reset.", "Consider a larger plan."),
    ),
    Entry(
        "gmail.api_disabled",
        C.ACCOUNT_SETUP,
        "The Gmail API is not enabled",
        match=r"api has not been used in project",
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
    ),
    Entry(
        "google.quota_per_minute",
        C.QUOTA_EXCEEDED,
        "Per-minute request quota used up",
        match=r"queries per minute|quota\b[^.]{0,80}?per minute",
        # The quota the text names resets every minute.
        retry_after=60,
    ),
    Entry(
        "graph.throttled",
        C.RATE_LIMITED,
        "Microsoft is throttling the application",
        match=r"mailboxconcurrency|applicationthrottled|application is over its",
    ),
    Entry(
        "exchange.eas_retry_later",
        C.RATE_LIMITED,
        "Exchange asked us to retry later",
        match=r"device should retry later",
    ),
    Entry(
        "sendgrid.sender_identity",
        C.ACCOUNT_SETUP,
        "The sender address is not verified",
        match=r"verified sender identity|not authorized to send from that email address",
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
        fixes=(F.EDIT_CONTACT,),
    ),
    Entry(
        "postmark.inactive_recipient",
        C.RECIPIENT_UNKNOWN,
        "The recipient is suppressed by the sending service",
        match=r"marked as inactive|inactiverecipient",
        explanation="The sending service refuses this address because it bounced hard, "
        "complained or was suppressed before. It is not emailed again.",
    ),
    Entry(
        "mailgun.sandbox",
        C.ACCOUNT_SETUP,
        "The sending domain is a test sandbox",
        match=r"sandbox subdomains are for test|free accounts are for test",
        fixes=(F.ADMIN_SETUP,),
        explanation="The sending domain is the provider's test sandbox, which only reaches "
        "authorized recipients. An admin must add the real sending domain.",
    ),
)
