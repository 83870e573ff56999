"""Controller settings from the environment or ``.env`` (every ``YMIR_*`` variable is documented in
the repository's ``.env``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Where the workplace is, which broker to use, which GPUs exist, and the import limits."""

    model_config = SettingsConfigDict(env_prefix="YMIR_", env_file=(".env", ".env.local"), extra="ignore")

    workplace: Path = Path("ymir-workplace")
    broker_url: str = ""  # empty: the embedded filesystem broker inside the workplace
    result_backend: str = ""  # empty: file results inside the workplace
    gpu_ids: str = ""  # e.g. "0,1,2,3": GPU slots tasks wait for
    gpu_lock_dir: Path = Path("/tmp/ymir-gpu-slots")
    sharing_dir: str = "sharing"  # path imports may only read below this folder of the workplace
    max_download_bytes: int = 20 * 1024**3
    max_unzipped_bytes: int = 100 * 1024**3
    max_zip_ratio: float = 250.0  # uncompressed/compressed beyond this is treated as a zip bomb
    max_zip_entries: int = 5_000_000
    download_timeout: float = 60.0  # seconds a URL import's server may stay silent (connect, each wait)
    download_max_seconds: float = 6 * 3600.0  # a URL import's whole download, whatever the server does
    fetch_allow: str = ""  # hosts, addresses and CIDR networks URL imports may reach though internal
    heartbeat_seconds: float = 5.0
    visibility_timeout: float = 12 * 3600.0  # Redis: when an unacknowledged task is delivered again
    restore_interval: float = 10.0  # Redis: how often a worker looks for such tasks
    redis_key_prefix: str = ""  # Redis: prefix of every key, so installations can share one server
    # tasks a worker runs at once (./ymir.sh passes it as celery -c); each executor on the CPU gets
    # cores // worker_concurrency threads (OMP_NUM_THREADS)
    worker_concurrency: int = 4
    # local executors this worker may run, name -> command line (JSON in .env); a task names one as
    # ``local:<name>``, never gives a command itself
    local_executors: dict[str, str] = {}
    # labeling (Label Studio)
    label_studio_url: str = "http://127.0.0.1:12007"  # how workers reach Label Studio
    label_studio_public_url: str = ""  # how people reach it (links); empty: label_studio_url
    label_studio_token: str = ""  # empty: <workplace>/label-studio/token (label_studio/ls.sh writes it)
    label_studio_dir: str = "label-studio"  # label_studio/ls.sh's folder, relative to the workplace
    public_url: str = "http://127.0.0.1:12001"  # YMIR's API as browsers and Label Studio reach it
    label_poll_seconds: float = 30.0  # reconciling look at a project even without webhooks
    label_url_days: float = 30.0  # how long the image links given to Label Studio stay valid

    @property
    def root(self) -> Path:
        """The workplace as an absolute path."""
        return self.workplace.expanduser().absolute()

    def path(self, relative: str) -> Path:
        """A request's workplace-relative path made absolute."""
        return self.root / relative

    @property
    def media(self) -> Path:
        """The shared media location."""
        return self.root / "media"

    @property
    def models(self) -> Path:
        """The shared model location."""
        return self.root / "models"

    @property
    def internal(self) -> Path:
        """The controller's own state: embedded broker, results, cancel flags."""
        return self.root / ".controller"

    def ls_token(self) -> str:
        """The Label Studio API token: configured, or the one label_studio/ls.sh generated."""
        if self.label_studio_token:
            return self.label_studio_token
        path = self.root / self.label_studio_dir / "token"
        return path.read_text().strip() if path.exists() else ""

    def gpu_list(self) -> list[str]:
        """Configured GPU ids."""
        return [g.strip() for g in self.gpu_ids.split(",") if g.strip()]


@lru_cache
def get_settings() -> Settings:
    """Settings of this process (read once)."""
    return Settings()
