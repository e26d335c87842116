"""Control-plane settings from a TOML file and `SUANLI_*` environment variables."""

from __future__ import annotations

import os
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from suanli.controlplane.certification.settings import CertificationSettings
from suanli.controlplane.dashboard.settings import DashboardSettings
from suanli.schema import MAX_BATCH_REPORTS

DEFAULT_LISTEN = "127.0.0.1:8440"
CONFIG_ENV = "SUANLI_CONFIG"
# The TOML file of the config being built now (load_config sets it; SUANLI_CONFIG otherwise).
_toml_path: ContextVar[Path | None] = ContextVar("suanli_config_toml", default=None)


def default_data_dir() -> Path:
    """Per-user data dir for a hand-started server; services set `data_dir = "/var/lib/suanli"`."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "suanli"


class ControlPlaneConfig(BaseSettings):
    """Everything `suanli serve` needs; each key also settable as `SUANLI_<KEY>`."""

    model_config = SettingsConfigDict(
        env_prefix="SUANLI_", extra="forbid", toml_file=None, env_nested_delimiter="__"
    )

    data_dir: Path = Field(default_factory=default_data_dir)
    # `database` (env SUANLI_DATABASE, the CLI's --database) is what users set; `database_url`
    # is the resolved value every component reads: SQLite under data_dir when none is given.
    database: str | None = None
    database_url: str | None = None
    listen: Annotated[str, Field(pattern=r"^[^\s:]*:\d{1,5}$")] = DEFAULT_LISTEN
    max_body_bytes: Annotated[int, Field(ge=1024, le=256 * 2**20)] = 16 * 2**20
    max_batch_reports: Annotated[int, Field(ge=1, le=MAX_BATCH_REPORTS)] = MAX_BATCH_REPORTS
    # Usage history: full resolution for this long, then one point per interval, then dropped.
    usage_retention_days: Annotated[float, Field(gt=0)] = 30.0
    usage_full_resolution_hours: Annotated[float, Field(ge=0)] = 24.0
    usage_downsample_interval_s: Annotated[int, Field(ge=1)] = 900
    maintenance_interval_s: Annotated[float, Field(gt=0)] = 300.0
    # An accelerator counts as "in use" when its latest utilisation is above this.
    in_use_threshold_percent: Annotated[float, Field(ge=0, le=100)] = 5.0
    # Group commit: at most this many concurrent requests' writes share one transaction.
    group_commit_max_requests: Annotated[int, Field(ge=1, le=10_000)] = 256
    # Group transactions open at once on PostgreSQL (SQLite has one writer thread: always 1).
    group_commit_in_flight: Annotated[int, Field(ge=1, le=16)] = 2
    # How long an API key lookup is cached in memory (0 disables): a revoked key works this long.
    auth_cache_ttl_s: Annotated[float, Field(ge=0, le=300)] = 30.0
    # How long a node credential lookup is cached (0 disables). Longer than the agents' 30 s usage
    # interval, or nearly every report pays a database read; a revoked node is still refused at
    # once, because the writer re-reads its status under lock in the report's own transaction.
    node_auth_cache_ttl_s: Annotated[float, Field(ge=0, le=3600)] = 300.0
    # Credentials and keys remembered per process; the oldest eighth is dropped when full.
    auth_cache_max_entries: Annotated[int, Field(ge=1, le=10_000_000)] = 500_000
    database_pool_size: Annotated[int, Field(ge=1, le=200)] = 10
    # Serve HTTPS directly (PEM certificate chain and private key; both or neither).
    tls_cert: Path | None = None
    tls_key: Path | None = None
    # Rate limits (token buckets in each process's memory, see ratelimit.py): requests per second
    # and burst per node credential, per API key, and 401s per remote address; 0 switches one off.
    rate_limit_node_per_s: Annotated[float, Field(ge=0)] = 20.0
    rate_limit_node_burst: Annotated[float, Field(ge=1)] = 200.0
    rate_limit_key_per_s: Annotated[float, Field(ge=0)] = 50.0
    rate_limit_key_burst: Annotated[float, Field(ge=1)] = 200.0
    rate_limit_auth_failures_per_s: Annotated[float, Field(ge=0)] = 10.0
    rate_limit_auth_failures_burst: Annotated[float, Field(ge=1)] = 100.0
    # The `[certification]` table (env SUANLI_CERTIFICATION__<KEY>): sweep, signing, check thresholds.
    certification: CertificationSettings = Field(default_factory=CertificationSettings)
    # The `[dashboard]` table (env SUANLI_DASHBOARD__<KEY>): session cookies, utilisation history.
    dashboard: DashboardSettings = Field(default_factory=DashboardSettings)

    @model_validator(mode="after")
    def _resolve_database_url(self) -> "ControlPlaneConfig":
        if self.database_url is None:
            self.database_url = self.database or f"sqlite:///{self.data_dir / 'suanli.db'}"
        return self

    @property
    def listen_host(self) -> str:
        return self.listen.rsplit(":", 1)[0] or "127.0.0.1"

    @property
    def listen_port(self) -> int:
        return int(self.listen.rsplit(":", 1)[1])

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Precedence: command-line (init) > environment > TOML file."""
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        toml_path = _toml_path.get() or os.environ.get(CONFIG_ENV)
        if toml_path:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(toml_path)))
        return tuple(sources)


def load_config(config_path: Path | None = None, **overrides: Any) -> ControlPlaneConfig:
    """Build the config from an optional TOML file, the environment and explicit overrides."""
    given = {key: value for key, value in overrides.items() if value is not None}
    if config_path is None:
        return ControlPlaneConfig(**given)
    if not config_path.is_file():
        raise FileNotFoundError(f"config file not found: {config_path}")
    token = _toml_path.set(config_path)
    try:
        return ControlPlaneConfig(**given)
    finally:
        _toml_path.reset(token)
