"""The one rule for a contact's address: exactly one recipient, or a clear refusal.

email-validator checks the syntax (no DNS: deliverability is the receiving server's to
say). Every way an address enters uses it: the model's field validator (forms, the admin,
`full_clean`), the contact services, the demo, and the pipeline again right before it
sends, since rows written before this rule, or around the models, may hold anything.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from email_validator import EmailNotValidError, validate_email


@dataclass(frozen=True)
class Recipient:
    """A valid address as we send to it."""

    # As the user should see it (normalized: the domain lowercased, Unicode NFC).
    address: str
    # What the envelope carries: the domain in ASCII (IDNA) when the local part allows it,
    # else the address itself, which only a server offering SMTPUTF8 (RFC 6531) takes.
    envelope: str

    @property
    def needs_smtputf8(self) -> bool:
        return not self.envelope.isascii()


def recipient(address: str) -> Recipient:
    """The address as one recipient, or a ValidationError that says, in words, why not."""
    try:
        result = validate_email(
            address.strip(),
            check_deliverability=False,
            allow_smtputf8=True,
            allow_display_name=False,
            test_environment=settings.CONTACT_ALLOW_TEST_DOMAINS,
        )
    except EmailNotValidError as error:
        raise ValidationError(
            "This is not a valid email address: %(reason)s",
            code="invalid_address",
            params={"reason": str(error)},
        ) from error
    return Recipient(address=result.normalized, envelope=result.ascii_email or result.normalized)


def validate_contact_address(value: str) -> None:
    """The model field's validator (forms, the admin, `full_clean`)."""
    recipient(value)


def invalid_address_refusal(address: str, error: ValidationError) -> str:
    """What the pipeline records for an address it will not send to (diagnostics reads it)."""
    return (
        f"Not sent: the contact's address {address!r} is not a valid email address: "
        f"{error.params['reason']}"
    )


def smtputf8_refusal(address: str) -> str:
    """What the pipeline records when the mailbox's server cannot carry the address."""
    return (
        f"Not sent: the address {address} has non-ASCII characters before the @-sign, and "
        "the mailbox's server does not offer SMTPUTF8 (RFC 6531)."
    )
