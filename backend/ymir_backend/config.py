"""Backend settings from the environment or ``.env`` (every variable documented in ``.env``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


class BackendSettings(BaseSettings):
    """Database, tokens, the first super admin, and limits."""

    model_config = SettingsConfigDict(env_prefix="YMIR_", env_file=(".env", ".env.local"), extra="ignore")

    workplace: Path = Path("ymir-workplace")
    database_url: str = ""  # empty: SQLite in the workplace
    secret_key: str = ""  # empty: generated once and kept in the workplace
    access_token_minutes: int = 60
    refresh_token_days: int = 14
    admin_email: str = "admin@example.com"
    admin_password: str = "change-me-now"
    signup_needs_approval: bool = False
    login_attempts_per_minute: int = 10  # per account; an address gets three times as many
    password_hash_time_cost: int = 3  # argon2id passes (argon2-cffi's default)
    password_hash_memory_kib: int = 65536  # argon2id memory per hash (argon2-cffi's default)
    trusted_proxies: str = ""  # addresses/networks whose X-Forwarded-For is believed
    max_upload_bytes: int = 20 * 1024**3
    max_json_bytes: int = 1024**2  # every request body that is not a file upload
    verify_max_image_bytes: int = 20 * 1024**2  # model verification: largest image upload
    verify_max_pixels: int = 50_000_000  # model verification: width * height refused above this
    monitor_interval: float = 1.0
    keep_failed_hours: float = 24.0  # uploads and work folders of failed/cancelled/lost tasks, then removed
    keep_export_hours: float = 72.0  # exports (exports/<task id>/) after their task ended, then removed
    sweep_seconds: float = 600.0  # how often the monitor removes what is past its time
    run_monitor: bool = True
    warm_versions: int = 2  # the latest ready dataset versions loaded for browsing when the API starts
    # the task engine: the same variables the workers read
    broker_url: str = ""
    result_backend: str = ""
    redis_key_prefix: str = ""
    heartbeat_seconds: float = 5.0
    sharing_dir: str = "sharing"
    # local executors the workers may run, name -> command line (JSON); images register them as
    # ``local:<name>`` (the workers check their own copy of this setting again)
    local_executors: dict[str, str] = {}
    web_dist: str = ""  # the GUI bundle; empty: web/dist of this checkout

    @property
    def root(self) -> Path:
        """The workplace as an absolute path."""
        return self.workplace.expanduser().absolute()

    @property
    def models(self) -> Path:
        """The shared model location (the workers store packages there)."""
        return self.root / "models"

    @property
    def verify_cache(self) -> Path:
        """Where model verification extracts each stage's ONNX file once."""
        return self.root / "cache" / "onnx"

    @property
    def db_url(self) -> str:
        """The SQLAlchemy URL (SQLite in the workplace by default)."""
        if self.database_url:
            return self.database_url
        self.root.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{self.root / 'ymir.sqlite3'}"

    def key(self) -> str:
        """The JWT signing key: configured, or generated once and kept in the workplace."""
        if self.secret_key:
            return self.secret_key
        return _workplace_secret(self.root / ".backend-secret")


@lru_cache
def get_settings() -> BackendSettings:
    """Settings of this process."""
    return BackendSettings()


@lru_cache(maxsize=8)
def _workplace_secret(path: Path) -> str:
    """The key kept in the workplace, created on first use; read once per process (every authenticated
    request needs it)."""
    if not path.exists():
        import secrets

        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()
