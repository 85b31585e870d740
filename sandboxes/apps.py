from __future__ import annotations

from django.apps import AppConfig


class SandboxesConfig(AppConfig):
    """Stand-ins for the outside servers (SMTP, DNS) that `make run`, the tests and the
    benchmarks talk to. Development only: production settings do not install it."""

    name = "sandboxes"
    verbose_name = "Sandboxes"
