"""Tests of `suanli-agent` called from Python: collect (summary and JSON) on a fixture tree, schema, errors."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import pytest

from suanli.agent.cli import COMMANDS, build_parser, main
from suanli.schema import Inventory, ReportBatch, Usage

HOSTS_DIR = Path(__file__).resolve().parent.parent / "fixtures" / "hosts"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.upper().startswith("SUANLI_AGENT_"):
            monkeypatch.delenv(name)


@pytest.fixture
def two_socket_config(tmp_path: Path) -> Path:
    """A config whose roots are the two-socket fixture tree (filesystems are statted for real)."""
    root = HOSTS_DIR / "two-socket"
    path = tmp_path / "agent.toml"
    path.write_text(f'proc_root = "{root / "proc"}"\nsys_root = "{root / "sys"}"\netc_root = "{root / "etc"}"\n'
                    '[location]\nprovince = "CN-JS"\ndatacenter = "wx-2"\n')
    return path


def test_collect_json_validates(two_socket_config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["collect", "--json", "--config", str(two_socket_config)]) == 0
    document = json.loads(capsys.readouterr().out)
    inventory = Inventory.model_validate(document["inventory"])
    Usage.model_validate(document["usage"])
    assert inventory.cpu.sockets == 2 and inventory.host.hostname == "gpu-a01.dc1.example.cn"
    assert inventory.location.province == "CN-JS"
    assert "/" in {fs.mountpoint for fs in inventory.filesystems}  # "/" exists on every machine


def test_only_and_disable(two_socket_config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["collect", "--json", "--config", str(two_socket_config), "--only", "host,cpu", "--only", "memory",
            "--disable", "memory"]
    assert main(args) == 0
    statuses = {s["name"]: s["state"] for s in json.loads(capsys.readouterr().out)["inventory"]["collectors"]}
    assert (statuses.pop("host"), statuses.pop("cpu")) == ("ok", "ok")
    assert {"memory", "location", "storage", "network"} <= set(statuses)
    assert set(statuses.values()) == {"disabled"}  # every other registered collector is off


def test_human_summary(two_socket_config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["collect", "--config", str(two_socket_config)]) == 0
    out = capsys.readouterr().out
    assert "host         gpu-a01.dc1.example.cn (Rocky Linux 9.3 (Blue Onyx)" in out
    assert "Intel(R) Xeon(R) Platinum 8480+: 2 socket(s), 4 cores, 8 logical, 2000 MHz base" in out
    assert "location     province CN-JS, datacenter wx-2" in out
    assert "disk         sda 447.1 GiB ssd model SSDSC2KG960G8R serial PHYG1234567X960CGN" in out
    assert "network      eno1 ethernet up, 25000 Mb/s, mtu 9000" in out
    assert "collectors   inventory: host ok" in out and "collectors   usage: cpu ok" in out


def test_unknown_collector_and_missing_config_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["collect", "--disable", "gpu"]) == 2
    assert "unknown collector(s): gpu" in capsys.readouterr().err
    assert main(["collect", "--config", str(tmp_path / "absent.toml")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_schema_prints_the_report_batch_schema(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    assert json.loads(capsys.readouterr().out) == ReportBatch.model_json_schema(by_alias=True)


def test_every_subcommand_takes_the_common_options() -> None:
    subparsers = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert list(subparsers.choices) == [command.name for command in COMMANDS]
    for name, sub in subparsers.choices.items():
        options = {option for action in sub._actions for option in action.option_strings}
        assert {"--config", "--state-dir"} <= options, name
    args = build_parser().parse_args(["collect", "--config", "/x/agent.toml", "--state-dir", "/x/state"])
    assert (str(args.config), str(args.state_dir)) == ("/x/agent.toml", "/x/state")
