"""Sign-in with a limit on failed attempts, so passwords cannot be guessed at speed."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.core.cache import cache
from django.core.exceptions import ValidationError


class RateLimitedLoginForm(AuthenticationForm):
    """Refuses a username after LOGIN_FAILURE_LIMIT failures from one address, for a while."""

    def _key(self) -> str:
        username = (self.data.get("username") or "").strip().lower()
        address = self.request.META.get("REMOTE_ADDR", "") if self.request else ""
        return f"login-failures:{address}:{username}"

    def clean(self) -> dict[str, object]:
        key = self._key()
        if cache.get(key, 0) >= settings.LOGIN_FAILURE_LIMIT:
            minutes = settings.LOGIN_FAILURE_WINDOW // 60
            raise ValidationError(
                f"Too many failed sign-ins for this account. Try again in {minutes} minutes.",
                code="rate_limited",
            )
        try:
            cleaned = super().clean()
        except ValidationError:
            cache.add(key, 0, settings.LOGIN_FAILURE_WINDOW)
            cache.incr(key)
            raise
        cache.delete(key)
        return cleaned
