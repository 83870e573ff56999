"""Entry point of workers: ``celery -A ymir_controller.worker worker -Q cpu,gpu``."""

from __future__ import annotations

from ymir_controller.app import make_app
from ymir_controller.settings import get_settings
from ymir_controller.tasks import register

settings = get_settings()
app = make_app(settings)
register(app, settings)
