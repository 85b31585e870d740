"""The OAuth sandbox as a client meets it (Authlib's client, as the product uses it), and
the SMTP sandbox's XOAUTH2 with its tokens, in Gmail's and Microsoft's words."""

from __future__ import annotations

import base64
import json
import smtplib
import time
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from authlib.common.security import generate_token
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.requests_client import OAuth2Session

from sandboxes import oauth_server
from sandboxes.oauth_server import FLAVOURS, GOOGLE, MICROSOFT, OAuthSandbox
from sandboxes.smtp_server import GMAIL_XOAUTH2_CHALLENGE, MICROSOFT_XOAUTH2_REFUSED
from sequences.services.oauth import xoauth2
from tests.support import consent, running_command

REDIRECT = "http://127.0.0.1:8000/mailboxes/oauth-callback/"
ACCOUNT = "rita@acme.test"


@pytest.fixture
def oauth():
    with OAuthSandbox() as sandbox:
        yield sandbox


def _client(flavour: oauth_server.Flavour, redirect_uri: str = REDIRECT) -> OAuth2Session:
    client_id, secret = flavour.client
    scope = " ".join(sorted(flavour.scopes))
    return OAuth2Session(
        client_id, secret, scope=scope, redirect_uri=redirect_uri, code_challenge_method="S256"
    )


def _authorize(oauth: OAuthSandbox, flavour: oauth_server.Flavour, verifier: str) -> str:
    url, _ = _client(flavour).create_authorization_url(
        oauth.url + flavour.authorize_path, code_verifier=verifier, login_hint=ACCOUNT
    )
    return url


def _tokens(oauth: OAuthSandbox, flavour: oauth_server.Flavour) -> dict[str, object]:
    verifier = generate_token(48)
    code = parse_qs(urlsplit(consent(_authorize(oauth, flavour, verifier), account=ACCOUNT)).query)
    return _client(flavour).fetch_token(
        oauth.url + flavour.token_path, code=code["code"][0], code_verifier=verifier
    )


@pytest.mark.parametrize("flavour", list(FLAVOURS.values()), ids=list(FLAVOURS))
def test_it_issues_tokens_for_a_code_and_its_verifier(oauth, flavour):
    tokens = _tokens(oauth, flavour)

    assert tokens["token_type"] == "Bearer"
    assert tokens["expires_in"] == 3600
    assert set(tokens["scope"].split()) == flavour.scopes
    assert tokens["access_token"].startswith("ya29." if flavour is GOOGLE else "EwB")
    (grant,) = oauth.grants_of(ACCOUNT)
    assert grant.refresh_token == tokens["refresh_token"]


def test_its_consent_page_offers_allow_and_deny_for_the_hinted_account(oauth):
    page = requests.get(_authorize(oauth, GOOGLE, generate_token(48)), timeout=5)

    assert 'value="rita@acme.test"' in page.text
    assert 'value="allow"' in page.text
    assert 'value="deny"' in page.text
    assert "https://mail.google.com/" in page.text


def test_a_denied_consent_redirects_with_access_denied_and_the_state(oauth):
    url = _authorize(oauth, GOOGLE, generate_token(48))

    location = consent(url, account=ACCOUNT, allow=False)

    query = parse_qs(urlsplit(location).query)
    assert query["error"] == ["access_denied"]
    assert query["state"] == parse_qs(urlsplit(url).query)["state"]


def test_it_requires_pkce(oauth):
    client_id, _ = GOOGLE.client
    url = oauth.url + GOOGLE.authorize_path
    params = {"response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT}

    response = requests.get(url, params=params, allow_redirects=False, timeout=5)

    assert response.status_code == 302
    assert "error=invalid_request" in response.headers["Location"]


def test_it_refuses_a_code_with_the_wrong_verifier(oauth):
    url = _authorize(oauth, GOOGLE, generate_token(48))
    code = parse_qs(urlsplit(consent(url, account=ACCOUNT)).query)["code"][0]

    with pytest.raises(OAuthError) as refused:
        _client(GOOGLE).fetch_token(
            oauth.url + GOOGLE.token_path, code=code, code_verifier=generate_token(48)
        )

    assert (refused.value.error, refused.value.description) == (
        "invalid_grant",
        "Code challenge failed.",
    )


def test_it_refuses_a_redirect_uri_off_loopback(oauth):
    client = _client(GOOGLE, redirect_uri="https://evil.example/callback")
    url, _ = client.create_authorization_url(
        oauth.url + GOOGLE.authorize_path, code_verifier=generate_token(48)
    )

    response = requests.get(url, allow_redirects=False, timeout=5)

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_it_expires_access_tokens_after_their_lifetime(oauth):
    with OAuthSandbox(access_seconds=1) as short:
        tokens = _tokens(short, GOOGLE)
        introspect = short.url + GOOGLE.path("introspect")
        auth = oauth_server.INTROSPECTION_CLIENT
        assert requests.post(introspect, {"token": tokens["access_token"]}, auth=auth).json()[
            "active"
        ]
        time.sleep(1.1)
        answer = requests.post(introspect, {"token": tokens["access_token"]}, auth=auth)
    assert answer.json() == {"active": False}


@pytest.mark.parametrize(
    ("flavour", "break_grant", "description"),
    [
        (GOOGLE, "revoke_grant", "Token has been expired or revoked."),
        (GOOGLE, "expire_grant", "Token has been expired or revoked."),
        (MICROSOFT, "revoke_grant", "AADSTS50173: The provided grant has expired due to it"),
        (MICROSOFT, "expire_grant", "AADSTS700082: The refresh token has expired due to"),
    ],
)
def test_it_refreshes_until_the_grant_is_revoked_or_expired(
    oauth, flavour, break_grant, description
):
    tokens = _tokens(oauth, flavour)
    client = _client(flavour)
    refreshed = client.refresh_token(
        oauth.url + flavour.token_path, refresh_token=tokens["refresh_token"]
    )
    assert refreshed["access_token"] != tokens["access_token"]
    assert oauth.refreshes() == 1

    getattr(oauth, break_grant)(ACCOUNT)
    answer = requests.post(
        oauth.url + flavour.token_path,
        {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=flavour.client,
        timeout=5,
    )

    assert answer.status_code == 400
    body = answer.json()
    assert body["error"] == "invalid_grant"
    assert body["error_description"].startswith(description)
    if flavour is MICROSOFT:
        assert body["error_codes"] == [int(description[6:].partition(":")[0])]


def test_its_revocation_endpoint_revokes_the_grant(oauth):
    tokens = _tokens(oauth, GOOGLE)

    answer = requests.post(
        oauth.url + GOOGLE.path("revoke"),
        {"token": tokens["refresh_token"]},
        auth=GOOGLE.client,
        timeout=5,
    )

    assert answer.status_code == 200
    (grant,) = oauth.grants_of(ACCOUNT)
    assert grant.revoked


def test_the_command_serves_until_stopped():
    with running_command("oauth_sandbox", "--port", "0") as run:
        url = run.first_line.split()[-4]
        assert requests.get(url + "/nowhere", timeout=5).status_code == 404

    assert run.first_line.startswith("OAuth sandbox listening on http://127.0.0.1:")
    assert "OAuth sandbox stopped." in run.output


def _smtp(sandbox) -> smtplib.SMTP:
    client = smtplib.SMTP("127.0.0.1", sandbox.port, timeout=5)
    client.ehlo()
    return client


def _xoauth2(client: smtplib.SMTP, user: str, token: str, seen: list[bytes]) -> tuple[int, bytes]:
    def answer(challenge: bytes | None = None) -> str:
        if challenge is None:
            return xoauth2(user, token)
        seen.append(challenge)
        return ""

    return client.auth("XOAUTH2", answer, initial_response_ok=True)


@pytest.mark.parametrize("flavour", list(FLAVOURS.values()), ids=list(FLAVOURS))
def test_smtp_signs_in_with_an_active_token_of_that_account(start_sandbox, oauth, flavour):
    smtp = start_sandbox(oauth_url=oauth.url)
    tokens = _tokens(oauth, flavour)

    code, _ = _xoauth2(_smtp(smtp), ACCOUNT, tokens["access_token"], [])

    assert code == 235
    assert smtp.logins == 1


def test_smtp_answers_a_refused_google_token_as_gmail_does(start_sandbox, oauth):
    smtp = start_sandbox(oauth_url=oauth.url)
    tokens = _tokens(oauth, GOOGLE)
    oauth.revoke_grant(ACCOUNT)
    challenges: list[bytes] = []

    with pytest.raises(smtplib.SMTPAuthenticationError) as refused:
        _xoauth2(_smtp(smtp), ACCOUNT, tokens["access_token"], challenges)

    assert json.loads(challenges[0]) == json.loads(GMAIL_XOAUTH2_CHALLENGE)
    assert json.loads(challenges[0])["status"] == "401"
    assert refused.value.smtp_code == 535
    assert refused.value.smtp_error == (
        b"5.7.8 Username and Password not accepted. For more information, go to\n"
        b"5.7.8  https://support.google.com/mail/?p=BadCredentials"
    )


def test_smtp_refuses_a_token_given_by_another_account(start_sandbox, oauth):
    smtp = start_sandbox(oauth_url=oauth.url)
    tokens = _tokens(oauth, GOOGLE)

    with pytest.raises(smtplib.SMTPAuthenticationError):
        _xoauth2(_smtp(smtp), "someone.else@acme.test", tokens["access_token"], [])


def test_smtp_answers_a_refused_microsoft_token_as_microsoft_does(start_sandbox, oauth):
    smtp = start_sandbox(oauth_url=oauth.url)
    tokens = _tokens(oauth, MICROSOFT)
    oauth.expire_grant(ACCOUNT)
    challenges: list[bytes] = []

    with pytest.raises(smtplib.SMTPAuthenticationError) as refused:
        _xoauth2(_smtp(smtp), ACCOUNT, tokens["access_token"], challenges)

    assert challenges == []  # no challenge: refused at once
    assert f"{refused.value.smtp_code} {refused.value.smtp_error.decode()}" == (
        MICROSOFT_XOAUTH2_REFUSED
    )


def test_smtp_without_an_oauth_sandbox_refuses_every_token(sandbox):
    token = "ya29." + base64.urlsafe_b64encode(b"x" * 30).decode()

    with pytest.raises(smtplib.SMTPAuthenticationError):
        _xoauth2(_smtp(sandbox), ACCOUNT, token, [])
