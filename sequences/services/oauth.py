"""OAuth 2.0 sign-in of Google and Microsoft mailboxes: the authorization code flow with
PKCE, the tokens kept encrypted on the mailbox, and a fresh access token when one is needed.

Authlib's requests client does the protocol (state, the S256 code challenge, the token
requests and their errors); the endpoints and the client of each provider are
settings.OAUTH_PROVIDERS. Sign-in then uses SASL XOAUTH2 (`xoauth2`), over SMTP
(sequences.services.smtp) and, later, IMAP: `mailbox_access_token` is the one way to a
token that is valid now.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import requests
from authlib.common.security import generate_token
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from django.conf import settings
from django.utils import timezone

from sequences.models import Mailbox


class OAuthRefused(Exception):
    """The token endpoint refused (or could not be reached); `raw` is its answer as it
    wrote it (`invalid_grant: Token has been expired or revoked.`), for the diagnostics."""

    def __init__(self, raw: str) -> None:
        super().__init__(raw)
        self.raw = raw


@dataclass(frozen=True)
class Authorization:
    """Where to send the browser, and what the callback must find again."""

    url: str
    state: str
    code_verifier: str


def oauth_providers() -> list[str]:
    """The providers whose OAuth sign-in is configured (a client id is set)."""
    return [name for name, conf in settings.OAUTH_PROVIDERS.items() if conf["client_id"]]


def _session(provider: str, redirect_uri: str | None = None) -> OAuth2Session:
    conf = settings.OAUTH_PROVIDERS[provider]
    return OAuth2Session(
        conf["client_id"],
        conf["client_secret"],
        scope=conf["scope"],
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
        timeout=settings.OAUTH_TIMEOUT,
    )


def oauth_authorization(*, provider: str, redirect_uri: str, login_hint: str) -> Authorization:
    """The provider's consent page for `login_hint`, with a new state and PKCE verifier."""
    conf = settings.OAUTH_PROVIDERS[provider]
    verifier = generate_token(64)
    url, state = _session(provider, redirect_uri).create_authorization_url(
        conf["authorize_url"],
        code_verifier=verifier,
        login_hint=login_hint,
        **conf["authorize_params"],
    )
    return Authorization(url=url, state=state, code_verifier=verifier)


def _fetch(provider: str, session: OAuth2Session, **params: str) -> dict[str, object]:
    try:
        return session.fetch_token(settings.OAUTH_PROVIDERS[provider]["token_url"], **params)
    except OAuthError as error:
        raise OAuthRefused(f"{error.error}: {error.description}") from error
    except requests.RequestException as error:
        raise OAuthRefused(f"{type(error).__name__}: {error}") from error


def oauth_exchange(
    *, provider: str, redirect_uri: str, code: str, code_verifier: str
) -> dict[str, object]:
    """The tokens the authorization `code` is worth (with its PKCE verifier)."""
    return _fetch(
        provider,
        _session(provider, redirect_uri),
        grant_type="authorization_code",
        code=code,
        code_verifier=code_verifier,
    )


def mailbox_set_tokens(mailbox: Mailbox, token: dict[str, object]) -> list[str]:
    """Put a token response on `mailbox` (encrypted; a refresh response without a new
    refresh token keeps the old one). Returns the fields to save."""
    refresh = token.get("refresh_token") or (
        mailbox.oauth_tokens["refresh_token"] if mailbox.uses_oauth else ""
    )
    mailbox.oauth_tokens = {"access_token": str(token["access_token"]), "refresh_token": refresh}
    mailbox.oauth_expires_at = timezone.now() + dt.timedelta(
        seconds=int(token.get("expires_in") or 3600)
    )
    return ["oauth_secret", "oauth_expires_at"]


def mailbox_access_token(mailbox: Mailbox) -> str:
    """An access token of the mailbox valid for OAUTH_REFRESH_MARGIN at least: the stored
    one, or a new one from its refresh token (saved). Raises OAuthRefused when the provider
    refuses the refresh (revoked, expired: the mailbox must be signed in again)."""
    margin = dt.timedelta(seconds=settings.OAUTH_REFRESH_MARGIN)
    tokens = mailbox.oauth_tokens
    if mailbox.oauth_expires_at is not None and mailbox.oauth_expires_at - margin > timezone.now():
        return tokens["access_token"]
    token = _fetch(
        mailbox.provider,
        _session(mailbox.provider),
        grant_type="refresh_token",
        refresh_token=tokens["refresh_token"],
    )
    fields = mailbox_set_tokens(mailbox, token)
    if mailbox.pk is not None:
        Mailbox.objects.filter(pk=mailbox.pk).update(
            **{name: getattr(mailbox, name) for name in fields}
        )
    return str(token["access_token"])


def xoauth2(user: str, access_token: str) -> str:
    """The SASL XOAUTH2 initial response (before base64), as Google and Microsoft define it."""
    return f"user={user}\x01auth=Bearer {access_token}\x01\x01"
