"""The agent's configuration: defaults, then the TOML file, then SUANLI_AGENT_* variables, then CLI options."""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from suanli.schema import MAX_BATCH_REPORTS, Location

DEFAULT_CONFIG_PATH = Path("/etc/suanli/agent.toml")
DEFAULT_STATE_DIR = Path("/var/lib/suanli-agent")
ENV_PREFIX = "SUANLI_AGENT_"
ENV_NESTED_DELIMITER = "__"
MIB = 2**20
Seconds = Annotated[float, Field(gt=0.0, le=86_400.0)]
# Names as a list in TOML, or "cpu,memory" / '["cpu","memory"]' in the environment.
Names = list[str]
# Keys whose environment value is JSON (an object); the others are passed on as the string.
JSON_ENV_KEYS = frozenset({"location"})


class ConfigError(Exception):
    """The configuration cannot be used; the message names the file, key and problem."""


class AgentConfig(BaseModel):
    """Every agent setting; each key can be set in the TOML file or as SUANLI_AGENT_<KEY>
    (nested keys with `__`, e.g. SUANLI_AGENT_LOCATION__PROVINCE=CN-SD), read by `load_config`.

    A plain pydantic model with its own small environment reader (`environment_values`) rather
    than pydantic-settings, whose ~20 modules (cloud secret providers, dotenv, its CLI parser)
    cost the agent ~1.5 MB of resident memory for reading prefixed variables (bench/RESULTS.md).
    """

    model_config = ConfigDict(extra="forbid", validate_default=True)

    server_url: str | None = None
    state_dir: Path = DEFAULT_STATE_DIR
    usage_interval_s: Annotated[float, Field(ge=1.0, le=86_400.0)] = 30.0
    inventory_interval_s: Annotated[float, Field(ge=10.0, le=7 * 86_400.0)] = 900.0
    delivery_interval_s: Annotated[float, Field(ge=0.1, le=3_600.0)] = 5.0
    jitter_fraction: Annotated[float, Field(ge=0.0, le=0.5)] = 0.1
    collector_timeout_s: Annotated[float, Field(gt=0.0, le=300.0)] = 5.0
    # statvfs on one mount point; a hung network mount is skipped after this long.
    statvfs_timeout_s: Annotated[float, Field(gt=0.0, le=300.0)] = 2.0
    collectors_enabled: Names | None = None  # None: every registered collector
    collectors_disabled: Names = []
    proc_root: Path = Path("/proc")
    sys_root: Path = Path("/sys")
    etc_root: Path = Path("/etc")
    location: Location = Location()
    spool_max_bytes: Annotated[int, Field(ge=MIB, le=2**40)] = 64 * MIB
    spool_max_reports: Annotated[int, Field(ge=10, le=10_000_000)] = 100_000
    batch_max_reports: Annotated[int, Field(ge=1, le=MAX_BATCH_REPORTS)] = 200
    tls_verify: bool = True
    ca_bundle: Path | None = None
    request_timeout_s: Seconds = 10.0
    shutdown_flush_s: Annotated[float, Field(ge=0.0, le=300.0)] = 5.0
    log_level: Literal["debug", "info", "warning", "error", "critical"] = "info"

    @field_validator("server_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/") if value else value

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower_level(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value

    @field_validator("collectors_enabled", "collectors_disabled", mode="before")
    @classmethod
    def _split_names(cls, value: Any) -> Any:
        """Accept "cpu,memory" or a JSON list as well as a list (convenient in the environment)."""
        if not isinstance(value, str):
            return value
        if value.lstrip().startswith("["):
            try:
                return json.loads(value)
            except json.JSONDecodeError as exc:
                raise ValueError(f"not a JSON list: {exc}") from None
        return [name.strip() for name in value.split(",") if name.strip()]


def environment_values(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The SUANLI_AGENT_* variables as config keys (names case-insensitive, `__` for nesting).

    SUANLI_AGENT_LOCATION='{"rack": "A07"}' and SUANLI_AGENT_LOCATION__RACK=A07 both set
    location.rack (the nested one wins); values stay strings for the model to validate.
    """
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    nested: list[tuple[list[str], str]] = []
    for name, value in environ.items():
        if not name.upper().startswith(ENV_PREFIX):
            continue
        key, *path = name[len(ENV_PREFIX):].lower().split(ENV_NESTED_DELIMITER)
        if key not in AgentConfig.model_fields:
            continue  # like an unknown option of another program: not ours to judge
        if path:
            nested.append(([key, *path], value))
        else:
            values[key] = _decoded(key, value) if key in JSON_ENV_KEYS else value
    for path, value in sorted(nested):
        target = values
        for part in path[:-1]:
            if not isinstance(target.get(part), dict):
                target[part] = {}
            target = target[part]
        target[path[-1]] = value
    return values


def _decoded(key: str, value: str) -> Any:
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"invalid agent configuration ({ENV_PREFIX}{key.upper()}): not JSON: {exc}") from None


def merged(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """`over` on top of `base`, tables merged key by key (a file's [location] plus one env key)."""
    result = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merged(result[key], value)
        else:
            result[key] = value
    return result


def read_config_file(path: Path | None) -> tuple[Path, dict[str, Any]]:
    """The TOML file's values; the default file may be absent, a file named explicitly may not."""
    explicit = path is not None
    path = Path(path) if explicit else DEFAULT_CONFIG_PATH
    try:
        with open(path, "rb") as handle:
            return path, tomllib.load(handle)
    except FileNotFoundError:
        if explicit:
            raise ConfigError(f"config file {path} does not exist") from None
        return path, {}
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc.strerror or exc}") from None


def describe_errors(error: ValidationError) -> str:
    """One line per problem, each naming its key as the user writes it (`location.province`)."""
    lines = []
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"]) or "(config)"
        lines.append(f"{key}: {item['msg']} (got {item.get('input')!r})")
    return "; ".join(lines)


def load_config(path: Path | str | None = None, overrides: dict[str, Any] | None = None) -> AgentConfig:
    """The effective configuration: CLI `overrides` over SUANLI_AGENT_* over the file over defaults.

    Raises ConfigError (never ValidationError) so callers can print it and exit non-zero.
    """
    file_path, file_values = read_config_file(Path(path) if path is not None else None)
    cli_values = {key: value for key, value in (overrides or {}).items() if value is not None}
    values = merged(merged(file_values, environment_values()), cli_values)
    try:
        return AgentConfig.model_validate(values)
    except ValidationError as exc:
        where = f"{file_path}, {ENV_PREFIX}*, options"
        raise ConfigError(f"invalid agent configuration ({where}): {describe_errors(exc)}") from None
