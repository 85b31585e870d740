"""A local OAuth 2.0 authorization server that plays Google's and Microsoft's.

The product signs mailboxes in with OAuth 2.0 (authorization code, PKCE, refresh tokens)
and then with SASL XOAUTH2 over SMTP. The demo and the tests need a real peer for that:
Authlib's authorization server classes (the grants, PKCE and the endpoints of RFC 6749,
7636, 7009 and 7662) behind a consent page, on loopback, one flavour per provider:

=========  ======================================  ====================================
flavour    authorize                               token (POST)
=========  ======================================  ====================================
google     /google/o/oauth2/v2/auth                /google/token
microsoft  /microsoft/common/oauth2/v2.0/authorize /microsoft/common/oauth2/v2.0/token
=========  ======================================  ====================================

Each flavour also has ``/revoke`` (RFC 7009) and ``/introspect`` (RFC 7662, for the SMTP
sandbox, as the client ``INTROSPECTION_CLIENT``) under its prefix. Its one client is
``<flavour>-sandbox-client`` with the secret ``<flavour>-sandbox-secret``; any redirect URI
on a loopback host is accepted (the sandbox serves loopback clients only). PKCE (S256) is
required.

The consent page asks for the account's address (the client's ``login_hint`` filled in)
and offers Allow and Deny, as the providers' pages do. Tokens live in memory: access
tokens for ``access_seconds``, refresh tokens until revoked or expired through
`revoke_grant` / `expire_grant` (the tests' and the demo's way to break a sign-in). A
refused refresh answers like the provider: Google's ``invalid_grant`` "Token has been
expired or revoked."; Microsoft's AADSTS700082 (expired) or AADSTS50173 (revoked), and
AADSTS70008 for an authorization code used too late. Google's access tokens start with
``ya29.`` as real ones do, which is how the SMTP sandbox knows whose answers to give.
"""

from __future__ import annotations

import datetime as dt
import html
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from socketserver import ThreadingMixIn
from urllib.parse import parse_qsl, urlsplit
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from authlib.common.encoding import json_dumps
from authlib.common.security import generate_token
from authlib.oauth2 import AuthorizationServer, OAuth2Error
from authlib.oauth2.rfc6749 import (
    AuthorizationCodeMixin,
    ClientMixin,
    InvalidGrantError,
    InvalidRequestError,
    OAuth2Payload,
    OAuth2Request,
    TokenMixin,
    grants,
)
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint

from sandboxes.background import BackgroundServer

log = logging.getLogger(__name__)

DEFAULT_PORT = 8025
DEFAULT_ACCESS_SECONDS = 3600
CODE_SECONDS = 600
INTROSPECTION_CLIENT = ("smtp-sandbox", "smtp-sandbox-secret")
GOOGLE_TOKEN_PREFIX = "ya29."
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})

GOOGLE_REFUSED = "Token has been expired or revoked."
# Microsoft's texts (learn.microsoft.com, "Microsoft Entra authentication and authorization
# error codes"), with the trace that follows each of them.
MICROSOFT_CODE_EXPIRED = (
    "AADSTS70008: The provided authorization code or refresh token has expired due to "
    "inactivity. Send a new interactive authorization request for this user and resource."
)
MICROSOFT_REFRESH_EXPIRED = (
    "AADSTS700082: The refresh token has expired due to inactivity. The token was issued on "
    "{issued} and was inactive for 90.00:00:00."
)
MICROSOFT_REVOKED = (
    "AADSTS50173: The provided grant has expired due to it being revoked, a fresh auth token "
    "is needed. The user might have changed or reset their password. The grant was issued on "
    "'{issued}' and the TokensValidFrom date (before which tokens are not valid) for this "
    "user is '{now}'."
)


@dataclass(frozen=True)
class Flavour:
    name: str
    prefix: str
    authorize_path: str
    token_path: str
    scopes: frozenset[str]
    title: str

    @property
    def client(self) -> tuple[str, str]:
        return f"{self.name}-sandbox-client", f"{self.name}-sandbox-secret"

    def path(self, endpoint: str) -> str:
        return f"{self.prefix}/{endpoint}"


GOOGLE = Flavour(
    "google",
    "/google",
    "/google/o/oauth2/v2/auth",
    "/google/token",
    frozenset({"https://mail.google.com/"}),
    "Sign in with Google",
)
MICROSOFT = Flavour(
    "microsoft",
    "/microsoft",
    "/microsoft/common/oauth2/v2.0/authorize",
    "/microsoft/common/oauth2/v2.0/token",
    frozenset(
        {
            "https://outlook.office.com/SMTP.Send",
            "https://outlook.office.com/IMAP.AccessAsUser.All",
            "offline_access",
        }
    ),
    "Sign in to your Microsoft account",
)
FLAVOURS = {flavour.name: flavour for flavour in (GOOGLE, MICROSOFT)}


def flavour_of_token(access_token: str) -> Flavour:
    """Whose token it is, by its shape (Google's start with ``ya29.``)."""
    return GOOGLE if access_token.startswith(GOOGLE_TOKEN_PREFIX) else MICROSOFT


@dataclass
class _Client(ClientMixin):
    client_id: str
    client_secret: str
    scopes: frozenset[str]

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> None:
        return None

    def get_allowed_scope(self, scope: str) -> str:
        return " ".join(s for s in (scope or "").split() if s in self.scopes)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        parts = urlsplit(redirect_uri)
        return parts.scheme in ("http", "https") and parts.hostname in LOOPBACK_HOSTS

    def check_client_secret(self, client_secret: str) -> bool:
        return client_secret == self.client_secret

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in ("authorization_code", "refresh_token")


@dataclass
class _Code(AuthorizationCodeMixin):
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    user: str
    code_challenge: str
    code_challenge_method: str
    issued_at: float = field(default_factory=time.time)

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope


@dataclass
class Grant(TokenMixin):
    """What a user allowed a client: the refresh token, until revoked or expired."""

    refresh_token: str
    client_id: str
    scope: str
    user: str
    flavour: Flavour
    issued_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    revoked: bool = False
    expired: bool = False

    def check_client(self, client: ClientMixin) -> bool:
        return client.get_client_id() == self.client_id

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return 0

    def is_expired(self) -> bool:
        return self.expired

    def is_revoked(self) -> bool:
        return self.revoked


@dataclass
class _Access(TokenMixin):
    access_token: str
    grant: Grant
    expires_at: float

    def check_client(self, client: ClientMixin) -> bool:
        return self.grant.check_client(client)

    def get_scope(self) -> str:
        return self.grant.scope

    def get_expires_in(self) -> int:
        return max(0, int(self.expires_at - time.time()))

    def is_expired(self) -> bool:
        return time.time() >= self.expires_at or self.grant.expired

    def is_revoked(self) -> bool:
        return self.grant.revoked


class _Store:
    """Every code, grant and access token issued, shared by the flavours' servers (whose
    request threads run at once)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.codes: dict[str, _Code] = {}
        self.grants: dict[str, Grant] = {}
        self.access: dict[str, _Access] = {}
        # Token requests answered, by grant type: how often the product refreshed.
        self.issued: dict[str, int] = {"authorization_code": 0, "refresh_token": 0}


class _Refused(InvalidGrantError):
    """An ``invalid_grant`` in the provider's words (Microsoft adds its error codes)."""

    def __init__(self, description: str, error_codes: Iterable[int] = ()) -> None:
        super().__init__(description=description)
        self.error_codes = list(error_codes)

    def get_body(self) -> list[tuple[str, object]]:
        body = super().get_body()
        if self.error_codes:
            now = dt.datetime.now(dt.UTC)
            body += [
                ("error_codes", self.error_codes),
                ("timestamp", now.strftime("%Y-%m-%d %H:%M:%SZ")),
                ("trace_id", str(uuid.uuid4())),
                ("correlation_id", str(uuid.uuid4())),
            ]
        return body


def _refusal(flavour: Flavour, grant: Grant | None) -> _Refused:
    if flavour is GOOGLE:
        return _Refused(GOOGLE_REFUSED)
    if grant is None:
        return _Refused(MICROSOFT_CODE_EXPIRED, [70008])
    issued = grant.issued_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if grant.revoked:
        now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        return _Refused(MICROSOFT_REVOKED.format(issued=issued, now=now), [50173])
    return _Refused(MICROSOFT_REFRESH_EXPIRED.format(issued=issued), [700082])


class _Payload(OAuth2Payload):
    def __init__(self, query: dict[str, str], form: dict[str, str]) -> None:
        self.query, self.form = query, form

    @property
    def data(self) -> dict[str, str]:
        return {**self.query, **self.form}

    @property
    def datalist(self) -> dict[str, list[str]]:
        return {key: [value] for key, value in self.data.items()}


class _Request(OAuth2Request):
    """A WSGI request as Authlib reads it."""

    def __init__(self, environ: dict[str, object]) -> None:
        host = environ.get("HTTP_HOST") or f"{environ['SERVER_NAME']}:{environ['SERVER_PORT']}"
        query = str(environ.get("QUERY_STRING", ""))
        uri = f"http://{host}{environ['PATH_INFO']}" + (f"?{query}" if query else "")
        headers = {
            key[5:].replace("_", "-").title(): str(value)
            for key, value in environ.items()
            if key.startswith("HTTP_")
        }
        if environ.get("CONTENT_TYPE"):
            headers["Content-Type"] = str(environ["CONTENT_TYPE"])
        super().__init__(str(environ["REQUEST_METHOD"]), uri, headers=headers)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length).decode() if length else ""
        self.payload = _Payload(dict(parse_qsl(query)), dict(parse_qsl(body)))

    @property
    def args(self) -> dict[str, str]:
        return self.payload.query

    @property
    def form(self) -> dict[str, str]:
        return self.payload.form


# (status line, headers, body) as the WSGI app answers.
Response = tuple[str, list[tuple[str, str]], bytes]
_REASONS = {200: "200 OK", 302: "302 Found", 400: "400 Bad Request", 401: "401 Unauthorized"}


class _Server(AuthorizationServer):
    """One flavour's authorization server: its client, grants and endpoints."""

    def __init__(self, flavour: Flavour, store: _Store, access_seconds: int) -> None:
        super().__init__(scopes_supported=sorted(flavour.scopes))
        self.flavour = flavour
        self.store = store
        client_id, secret = flavour.client
        self.clients = {
            client_id: _Client(client_id, secret, flavour.scopes),
            INTROSPECTION_CLIENT[0]: _Client(*INTROSPECTION_CLIENT, frozenset()),
        }
        prefix = GOOGLE_TOKEN_PREFIX if flavour is GOOGLE else "EwB"
        self.register_token_generator(
            "default",
            BearerTokenGenerator(
                access_token_generator=lambda **kw: prefix + generate_token(40),
                refresh_token_generator=lambda **kw: f"1//{generate_token(48)}",
                expires_generator=lambda client, grant_type: access_seconds,
            ),
        )
        self.register_grant(_code_grant(flavour, store), [_RequiredChallenge()])
        self.register_grant(_refresh_grant(flavour, store))
        self.register_endpoint(_revocation(store))
        self.register_endpoint(_introspection(store))

    def query_client(self, client_id: str) -> _Client | None:
        return self.clients.get(client_id)

    def save_token(self, token: dict[str, object], request: OAuth2Request) -> None:
        with self.store.lock:
            grant = request.refresh_token
            if grant is None:
                grant = Grant(
                    str(token["refresh_token"]),
                    request.client.client_id,
                    str(token.get("scope", "")),
                    str(request.user),
                    self.flavour,
                )
                self.store.grants[grant.refresh_token] = grant
            access_token = str(token["access_token"])
            expires_at = time.time() + float(token.get("expires_in", 0))
            self.store.access[access_token] = _Access(access_token, grant, expires_at)
            self.store.issued[request.payload.grant_type] += 1
        log.info(
            "%s issued a token (%s) for %s",
            self.flavour.name,
            request.payload.grant_type,
            grant.user,
        )

    def create_oauth2_request(self, request: OAuth2Request) -> OAuth2Request:
        return request

    def create_json_request(self, request: OAuth2Request) -> OAuth2Request:
        return request

    def handle_response(
        self, status: int, body: object, headers: list[tuple[str, str]]
    ) -> Response:
        if isinstance(body, dict):
            body = json_dumps(body)
        return _REASONS.get(status, f"{status} Error"), list(headers), str(body or "").encode()

    def send_signal(self, name: str, *args: object, **kwargs: object) -> None:
        pass

    def handle_error_response(self, request: OAuth2Request, error: OAuth2Error) -> Response:
        log.info("%s refused: %s %s", self.flavour.name, error.error, error.description or "")
        return super().handle_error_response(request, error)


class _RequiredChallenge(CodeChallenge):
    """PKCE from every client, confidential ones too (OAuth 2.1, RFC 9700); only S256."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_challenge(self, grant: grants.AuthorizationCodeGrant, redirect_uri: str):
        if not grant.request.payload.data.get("code_challenge"):
            raise InvalidRequestError("Missing 'code_challenge'", redirect_uri=redirect_uri)
        super().validate_code_challenge(grant, redirect_uri)


def _code_grant(flavour: Flavour, store: _Store) -> type[grants.AuthorizationCodeGrant]:
    class CodeGrant(grants.AuthorizationCodeGrant):
        TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

        def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
            data = request.payload.data
            with store.lock:
                store.codes[code] = _Code(
                    code,
                    request.client.client_id,
                    request.payload.redirect_uri,
                    request.scope,
                    str(request.user),
                    data.get("code_challenge", ""),
                    data.get("code_challenge_method", ""),
                )

        def query_authorization_code(self, code: str, client: _Client) -> _Code | None:
            found = store.codes.get(code)
            if found is None or found.client_id != client.client_id:
                return None
            if time.time() - found.issued_at > CODE_SECONDS:
                raise _refusal(flavour, None)
            return found

        def delete_authorization_code(self, authorization_code: _Code) -> None:
            with store.lock:
                store.codes.pop(authorization_code.code, None)

        def authenticate_user(self, authorization_code: _Code) -> str:
            return authorization_code.user

    return CodeGrant


def _refresh_grant(flavour: Flavour, store: _Store) -> type[grants.RefreshTokenGrant]:
    class RefreshGrant(grants.RefreshTokenGrant):
        TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

        def authenticate_refresh_token(self, refresh_token: str) -> Grant | None:
            grant = store.grants.get(refresh_token)
            if grant is not None and (grant.revoked or grant.expired):
                raise _refusal(flavour, grant)
            return grant  # None: unknown, Authlib's own invalid_grant

        def authenticate_user(self, refresh_token: Grant) -> str:
            return refresh_token.user

        def revoke_old_credential(self, refresh_token: Grant) -> None:
            pass  # the refresh token stays valid, as Google's do (Microsoft's also do)

    return RefreshGrant


def _query(store: _Store, token: str) -> TokenMixin | None:
    return store.access.get(token) or store.grants.get(token)


def _revocation(store: _Store) -> RevocationEndpoint:
    class Revocation(RevocationEndpoint):
        def query_token(self, token_string: str, token_type_hint: str | None) -> TokenMixin:
            return _query(store, token_string)

        def revoke_token(self, token: TokenMixin, request: OAuth2Request) -> None:
            grant = token.grant if isinstance(token, _Access) else token
            grant.revoked = True

    return Revocation


def _introspection(store: _Store) -> IntrospectionEndpoint:
    class Introspection(IntrospectionEndpoint):
        def query_token(self, token_string: str, token_type_hint: str | None) -> TokenMixin:
            return _query(store, token_string)

        def check_permission(self, token: TokenMixin, client: _Client, request: object) -> bool:
            return client.client_id == INTROSPECTION_CLIENT[0]

        def introspect_token(self, token: TokenMixin) -> dict[str, object]:
            grant = token.grant if isinstance(token, _Access) else token
            return {"username": grant.user, "scope": grant.scope, "client_id": grant.client_id}

    return Introspection


_CONSENT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font:16px sans-serif;max-width:28rem;margin:3rem auto}}</style></head>
<body><h1>{title}</h1>
<p><strong>{client}</strong> wants to:</p><ul>{scopes}</ul>
<form method="post">
<p><label for="account">Account</label>
<input id="account" name="account" type="email" value="{account}" required></p>
<p><button name="consent" value="deny">Deny</button>
<button name="consent" value="allow">Allow</button></p></form>
<p><small>OAuth sandbox ({flavour}): nothing leaves this machine.</small></p></body></html>
"""


class _App:
    """The WSGI application: the consent page and the flavours' endpoints."""

    def __init__(self, servers: dict[str, _Server]) -> None:
        self.servers = servers

    def __call__(
        self, environ: dict[str, object], start_response: Callable[..., object]
    ) -> list[bytes]:
        request = _Request(environ)
        status, headers, body = self._route(str(environ["PATH_INFO"]), request)
        start_response(status, headers)
        return [body]

    def _route(self, path: str, request: _Request) -> Response:
        for server in self.servers.values():
            flavour = server.flavour
            if path == flavour.authorize_path:
                return self._authorize(server, request)
            if request.method != "POST":
                continue
            if path == flavour.token_path:
                return server.create_token_response(request)
            if path == flavour.path("revoke"):
                return server.create_endpoint_response("revocation", request)
            if path == flavour.path("introspect"):
                return server.create_endpoint_response("introspection", request)
        return "404 Not Found", [("Content-Type", "text/plain")], b"Not found"

    def _authorize(self, server: _Server, request: _Request) -> Response:
        try:
            grant = server.get_consent_grant(request)
        except OAuth2Error as error:
            return server.handle_error_response(request, error)
        if request.method == "POST":
            consent = request.form.get("consent")
            account = request.form.get("account", "").strip()
            user = account if consent == "allow" and account else None
            return server.create_authorization_response(request, grant_user=user, grant=grant)
        page = _CONSENT.format(
            title=html.escape(server.flavour.title),
            client=html.escape(grant.client.client_id),
            scopes="".join(f"<li>{html.escape(s)}</li>" for s in grant.request.scope.split()),
            account=html.escape(request.args.get("login_hint", "")),
            flavour=server.flavour.name,
        )
        return "200 OK", [("Content-Type", "text/html; charset=utf-8")], page.encode()


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        log.debug(format, *args)


class OAuthSandbox(BackgroundServer):
    """The sandbox, served by threads of this process. With `port=0` the OS picks a free
    port; `url` is then the server's base URL. Also a context manager."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        access_seconds: int = DEFAULT_ACCESS_SECONDS,
    ) -> None:
        self.host = host
        self.port = port
        self.store = _Store()
        self.servers = {
            name: _Server(flavour, self.store, access_seconds) for name, flavour in FLAVOURS.items()
        }
        self._httpd: _ThreadingServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        httpd = make_server(
            self.host,
            self.port,
            _App(self.servers),
            server_class=_ThreadingServer,
            handler_class=_QuietHandler,
        )
        self.port = httpd.server_port
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def grants_of(self, user: str) -> list[Grant]:
        """The grants `user` (an address) gave, oldest first."""
        return [grant for grant in self.store.grants.values() if grant.user == user]

    def revoke_grant(self, user: str) -> int:
        """`user` revoked the product's access (or changed their password): every grant
        and its access tokens are refused from now on. Returns how many grants."""
        grants_ = self.grants_of(user)
        for grant in grants_:
            grant.revoked = True
        return len(grants_)

    def expire_grant(self, user: str) -> int:
        """`user`'s grants expire (unused too long): refreshes and tokens are refused."""
        grants_ = self.grants_of(user)
        for grant in grants_:
            grant.expired = True
        return len(grants_)

    def refreshes(self) -> int:
        """Refresh-token requests answered with a token since start."""
        return self.store.issued["refresh_token"]
