from __future__ import annotations

from django.http import HttpRequest

from sequences.selectors import membership_for_user


def membership(request: HttpRequest) -> dict[str, object]:
    """The signed-in user's role and organization, for the navigation."""
    user = getattr(request, "user", None)
    return {"membership": membership_for_user(user)} if user is not None else {}
