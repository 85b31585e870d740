"""The fixed vocabulary of ../shared/diagnosis-contract.md.

TextChoices so that models can store them with choices and check constraints; the
labels are what a person reads.
"""

from __future__ import annotations

from django.db import models


class Category(models.TextChoices):
    RECIPIENT_ADDRESS_INVALID = "recipient_address_invalid", "Invalid contact address"
    RECIPIENT_UNKNOWN = "recipient_unknown", "Recipient does not exist"
    RECIPIENT_MAILBOX_FULL = "recipient_mailbox_full", "Recipient mailbox full"
    RECIPIENT_UNAVAILABLE = "recipient_unavailable", "Recipient temporarily unavailable"
    MAILBOX_CONNECTION = "mailbox_connection", "Invalid mailbox connection"
    ACCOUNT_SETUP = "account_setup", "Account setup"
    CONTENT_REJECTED = "content_rejected", "Content rejected"
    SENDER_BLOCKED = "sender_blocked", "Sender blocked"
    ACCOUNT_SUSPENDED = "account_suspended", "Account suspended"
    RECIPIENT_POLICY = "recipient_policy", "Refused by recipient's policy"
    RATE_LIMITED = "rate_limited", "Rate limited"
    QUOTA_EXCEEDED = "quota_exceeded", "Sending quota used up"
    MESSAGE_TOO_LARGE = "message_too_large", "Message too large"
    PROVIDER_ERROR = "provider_error", "Provider error"
    TEMPORARY_FAILURE = "temporary_failure", "Temporary failure"
    REQUEST_INVALID = "request_invalid", "Invalid request"
    UNKNOWN = "unknown", "Unknown error"


class Retry(models.TextChoices):
    AUTO = "auto", "Retried automatically"
    AFTER_FIX = "after_fix", "Waits for a fix"
    NEVER = "never", "Never retried"


class Fix(models.TextChoices):
    EDIT_CONTACT = "edit_contact", "Edit the contact's address"
    SUPPRESS_CONTACT = "suppress_contact", "Suppress the contact"
    RESYNC_MAILBOX = "resync_mailbox", "Resynchronize the mailbox"
    RESCHEDULE = "reschedule", "Reschedule"
    REVIEW_CONTENT = "review_content", "Review the content"
    CHECK_BLACKLIST = "check_blacklist", "Check blocklists"
    CHECK_DNS_AUTH = "check_dns_auth", "Check SPF, DKIM and DMARC"
    ADMIN_SETUP = "admin_setup", "Fix the provider setup"
    REDUCE_SIZE = "reduce_size", "Reduce the message size"
    CONTACT_SUPPORT = "contact_support", "Contact support"


class Side(models.TextChoices):
    """Whose side the problem is on, as the Emails tab tells a rep."""

    SENDER = "sender", "Our mailbox or setup"
    MESSAGE = "message", "The message"
    RECIPIENT = "recipient", "The recipient"
    PROVIDER = "provider", "The sending provider or network"


class MessageKind(models.TextChoices):
    """What a whole message received in the sender's mailbox is (diagnostics.message)."""

    BOUNCE = "bounce", "Bounce"
    DELAY = "delay", "Delivery delayed"
    DELIVERED = "delivered", "Delivered"
    FEEDBACK = "feedback", "Feedback report"
    AUTO_REPLY = "auto_reply", "Automatic reply"
    REPLY = "reply", "Reply"
    OTHER = "other", "Other message"


class FeedbackType(models.TextChoices):
    """RFC 5965's feedback types; `other` also stands for any type it does not name."""

    ABUSE = "abuse", "Complaint"
    FRAUD = "fraud", "Fraud or phishing"
    VIRUS = "virus", "Virus"
    OPT_OUT = "opt-out", "Opt-out request"
    NOT_SPAM = "not-spam", "Not spam"
    AUTH_FAILURE = "auth-failure", "Authentication failure"
    OTHER = "other", "Other feedback"
