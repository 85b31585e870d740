from __future__ import annotations

from django.apps import AppConfig


class DeliverabilityConfig(AppConfig):
    name = "deliverability"
    verbose_name = "Deliverability"
