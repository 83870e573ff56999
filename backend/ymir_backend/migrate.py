"""Database migrations (Alembic), run by ``./ymir.sh start``, by the app at start-up and by tests."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

HERE = Path(__file__).parent


def alembic_config(url: str) -> Config:
    """An Alembic config pointing at our migrations and ``url``."""
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE / "migrations"))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str) -> None:
    """Bring the database at ``url`` to the newest schema."""
    command.upgrade(alembic_config(url), "head")


def main() -> None:
    """``python -m ymir_backend.migrate``: migrate the configured database."""
    from ymir_backend.config import get_settings

    upgrade(get_settings().db_url)


if __name__ == "__main__":
    main()
