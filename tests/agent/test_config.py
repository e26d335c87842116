"""Tests of the agent config: file, environment and option precedence, and errors that name the key."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from suanli.agent.config import DEFAULT_STATE_DIR, AgentConfig, ConfigError, load_config


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests must not see SUANLI_AGENT_* variables of whoever runs them."""
    for name in list(os.environ):
        if name.upper().startswith("SUANLI_AGENT_"):
            monkeypatch.delenv(name)


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "agent.toml"
    path.write_text(text)
    return path


def test_defaults() -> None:
    config = AgentConfig()
    assert config.state_dir == DEFAULT_STATE_DIR
    assert (config.usage_interval_s, config.inventory_interval_s, config.delivery_interval_s) == (30, 900, 5)
    assert config.collectors_enabled is None and config.collectors_disabled == []
    assert config.spool_max_bytes == 64 * 2**20 and config.batch_max_reports == 200
    assert config.tls_verify is True and config.log_level == "info"
    assert str(config.proc_root) == "/proc" and config.location.province is None


def test_file_then_environment_then_options(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write(tmp_path, 'server_url = "https://cp.example.cn/"\nusage_interval_s = 60\ninventory_interval_s = 600\n'
                            '[location]\nprovince = "CN-SD"\ndatacenter = "jn-1"\n')
    monkeypatch.setenv("SUANLI_AGENT_USAGE_INTERVAL_S", "45")
    monkeypatch.setenv("SUANLI_AGENT_LOCATION__RACK", "A07")
    config = load_config(path, {"inventory_interval_s": 300, "state_dir": None})
    assert config.server_url == "https://cp.example.cn"  # trailing slash dropped
    assert config.usage_interval_s == 45  # environment over file
    assert config.inventory_interval_s == 300  # option over file
    assert config.state_dir == DEFAULT_STATE_DIR  # an option left unset (None) changes nothing
    assert (config.location.province, config.location.datacenter, config.location.rack) == ("CN-SD", "jn-1", "A07")


def test_collector_lists_from_toml_and_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write(tmp_path, 'collectors_disabled = ["storage"]\n')
    assert load_config(path).collectors_disabled == ["storage"]
    monkeypatch.setenv("SUANLI_AGENT_COLLECTORS_ENABLED", "cpu, memory")
    monkeypatch.setenv("SUANLI_AGENT_COLLECTORS_DISABLED", '["network"]')
    config = load_config(path)
    assert config.collectors_enabled == ["cpu", "memory"] and config.collectors_disabled == ["network"]


def test_missing_default_file_is_fine_missing_named_file_is_not(tmp_path: Path) -> None:
    assert load_config(None).usage_interval_s == 30  # /etc/suanli/agent.toml absent on this machine
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "absent.toml")


def test_bad_toml_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(_write(tmp_path, "usage_interval_s = \n"))


@pytest.mark.parametrize(("text", "key"), [
    ("usage_interval_s = 0\n", "usage_interval_s"),
    ("jitter_fraction = 2\n", "jitter_fraction"),
    ("batch_max_reports = 100000\n", "batch_max_reports"),
    ('server_url = "ftp://x"\n', "server_url"),
    ('log_level = "loud"\n', "log_level"),
    ('[location]\nprovince = "Shandong"\n', "location.province"),
    ("[location]\nrack_unit = 0\n", "location.rack_unit"),
    ("usage_intreval_s = 10\n", "usage_intreval_s"),  # a typo is an error, not silently ignored
])
def test_invalid_values_name_their_key(tmp_path: Path, text: str, key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(_write(tmp_path, text))
    assert f"{key}:" in str(caught.value)


def test_invalid_environment_value_names_its_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUANLI_AGENT_REQUEST_TIMEOUT_S", "soon")
    with pytest.raises(ConfigError, match="request_timeout_s"):
        load_config(None)


def test_log_level_is_case_insensitive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUANLI_AGENT_LOG_LEVEL", "DEBUG")
    assert load_config(None).log_level == "debug"


def test_environment_location_as_json_and_nested_keys_merge(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write(tmp_path, '[location]\nprovince = "CN-SD"\n')
    monkeypatch.setenv("SUANLI_AGENT_LOCATION", '{"datacenter": "jn-1", "rack": "B01"}')
    monkeypatch.setenv("suanli_agent_location__rack", "A07")  # names are case-insensitive
    monkeypatch.setenv("SUANLI_AGENT_NOT_A_KEY", "x")  # not a setting: ignored, as before
    config = load_config(path)
    assert (config.location.province, config.location.datacenter, config.location.rack) == ("CN-SD", "jn-1", "A07")


def test_environment_location_that_is_not_json_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUANLI_AGENT_LOCATION", "rack A07")
    with pytest.raises(ConfigError, match="SUANLI_AGENT_LOCATION"):
        load_config(None)
