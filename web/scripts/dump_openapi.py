"""Write the backend's OpenAPI document without a server: ``python dump_openapi.py OUT.json``.

The app is built on a throw-away SQLite workplace with the task monitor off, so nothing is started
and no real workplace is touched. ``./ymir.sh`` runs this before ``openapi-typescript``.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from ymir_backend.config import BackendSettings
from ymir_backend.main import create_app

with tempfile.TemporaryDirectory() as tmp:
    app = create_app(
        BackendSettings(workplace=Path(tmp), run_monitor=False, web_dist=str(Path(tmp) / "none"))
    )
    Path(sys.argv[1]).write_text(json.dumps(app.openapi(), indent=1, sort_keys=True) + "\n")
