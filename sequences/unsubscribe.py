"""One-click unsubscribe (RFC 8058): the link every email carries, and what it names.

The link's token is the email's and its contact's ids, signed (django.core.signing, its own
salt, no expiry: a prospect may unsubscribe from an email of last year). Whoever holds it
may unsubscribe that contact, and nothing else; a token that is changed in any way names
nothing. The key is SECRET_KEY's, so its fallbacks keep old links working through a
rotation.
"""

from __future__ import annotations

import functools

from django.conf import settings
from django.core import signing
from django.urls import reverse

from sequences.models import ScheduledEmail

SALT = "sequences.unsubscribe"
# The body a mail client posts (RFC 8058 3.1), and the page's button with it.
ONE_CLICK_FIELD, ONE_CLICK_VALUE = "List-Unsubscribe", "One-Click"
_SIGNER = signing.Signer(salt=SALT)
_TOKEN = "TOKEN"


def unsubscribe_token(*, contact_id: int, email_id: int) -> str:
    return _SIGNER.sign_object([contact_id, email_id])


def unsubscribe_ids(token: str) -> tuple[int, int] | None:
    """The (contact id, email id) a token names, or None for anything not signed by us."""
    try:
        contact_id, email_id = _SIGNER.unsign_object(token)
    except (signing.BadSignature, ValueError, TypeError):
        return None
    if type(contact_id) is not int or type(email_id) is not int:
        return None
    return contact_id, email_id


@functools.cache
def _link_path() -> str:
    # Resolved once: reverse() costs more than the rest of a message's headers.
    return reverse("sequences:unsubscribe", args=[_TOKEN])


def unsubscribe_headers(email: ScheduledEmail) -> dict[str, str]:
    """The headers that let the contact's mail client offer an unsubscribe button.

    The https link comes first (RFC 8058 asks for it, and Gmail's and Yahoo's sender rules
    use it); the mailto is the sending mailbox's own address with the subject
    "unsubscribe", for clients that only write mail: it reaches the rep, whose inbox is
    where a reply saying so would land anyway.
    """
    token = unsubscribe_token(contact_id=email.contact_id, email_id=email.pk)
    url = settings.PUBLIC_BASE_URL + _link_path().replace(_TOKEN, token)
    return {
        "List-Unsubscribe": f"<{url}>, <mailto:{email.mailbox.email}?subject=unsubscribe>",
        "List-Unsubscribe-Post": f"{ONE_CLICK_FIELD}={ONE_CLICK_VALUE}",
    }
