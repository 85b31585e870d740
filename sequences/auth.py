"""Sign-in with a limit on attempts, so passwords cannot be guessed at speed.

Every sign-in form (the product's and the Django admin's) counts attempts per account and
client address. An attempt is counted before its password is checked, in one atomic
statement, so concurrent guesses cannot all slip under the limit; a success forgets the
count. The account is the one authentication resolves (the username normalized as its form
field does, NFKC: every spelling of one account shares its counter). The client address
is REMOTE_ADDR, or behind TRUSTED_PROXY_COUNT proxies the address the outermost of them
saw (X-Forwarded-For), so that one client cannot lock everyone out through the proxy.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.http import HttpRequest

from sequences.services.sign_in import sign_in_attempt, sign_in_forget


def client_address(request: HttpRequest | None) -> str:
    """The client's address: REMOTE_ADDR, or the one the outermost trusted proxy saw."""
    if request is None:
        return ""
    proxies = settings.TRUSTED_PROXY_COUNT
    forwarded = [a.strip() for a in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    if proxies and forwarded[0]:
        return forwarded[-min(proxies, len(forwarded))]
    return request.META.get("REMOTE_ADDR", "")


class LoginForm(AuthenticationForm):
    """The product's sign-in form, refusing more than LOGIN_FAILURE_LIMIT attempts per account and
    client address in LOGIN_FAILURE_WINDOW, before the password is even checked."""

    def _account(self) -> str:
        # Exactly what authenticate() looks up: the field's normalization (NFKC, stripped).
        username = self.fields["username"].to_python(self.data.get("username") or "")
        user = get_user_model()
        found = (
            user._default_manager.filter(**{user.USERNAME_FIELD: username})
            .values_list("pk", flat=True)
            .first()
        )
        return f"user:{found}" if found is not None else f"name:{username.casefold()}"

    def clean(self) -> dict[str, object]:
        key = f"{client_address(self.request)}|{self._account()}"[:400]
        if sign_in_attempt(key) > settings.LOGIN_FAILURE_LIMIT:
            minutes = settings.LOGIN_FAILURE_WINDOW // 60
            raise ValidationError(
                f"Too many failed sign-ins for this account. Try again in {minutes} minutes.",
                code="rate_limited",
            )
        cleaned = super().clean()
        sign_in_forget(key)
        return cleaned


class AdminLoginForm(LoginForm, AdminAuthenticationForm):
    """The Django admin's sign-in, for staff, under the same limit."""
