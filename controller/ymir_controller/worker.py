"""Entry point of workers: ``celery -A ymir_controller.worker worker -Q cpu,gpu``."""

from __future__ import annotations

import warnings

from celery.platforms import SecurityWarning

from ymir_controller.app import make_app
from ymir_controller.settings import get_settings
from ymir_controller.tasks import register

# Celery warns on every start as root because a pickle message could then run code as root. Our
# app accepts JSON only (accept_content in protocol.celery_client_config), so the warning names a
# risk this worker does not have; containers and the local mode commonly run as root.
warnings.filterwarnings("ignore", category=SecurityWarning)

settings = get_settings()
app = make_app(settings)
register(app, settings)
