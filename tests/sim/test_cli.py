"""`suanli sim` options: tokens from arguments and files, --plan-only outputs, and a real run as a process."""

from __future__ import annotations

import asyncio
import csv
import json
import sys
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer

from suanli.sim.cli import main
from suanli.sim.tokens import TokenError, from_arguments, read_tokens_file
from tests.conftest import REPO_ROOT
from tests.sim.contract_server import ContractState, build_app


def test_tokens_named_and_bare_fill_the_data_centers_in_order() -> None:
    tokens = from_arguments(["b=tok-b", "tok-first", "tok-second"], ["a", "b", "c"])
    assert tokens == {"b": "tok-b", "a": "tok-first", "c": "tok-second"}
    with pytest.raises(TokenError):
        from_arguments(["x", "y"], ["a"])


def test_tokens_file_with_and_without_provinces(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    path.write_text(json.dumps({"dc-a": "tok-a", "dc-b": {"token": "tok-b", "province": "CN-GZ"}}))
    assert read_tokens_file(path) == ({"dc-a": "tok-a", "dc-b": "tok-b"}, {"dc-b": "CN-GZ"})
    path.write_text(json.dumps({"dc-a": 5}))
    with pytest.raises(TokenError):
        read_tokens_file(path)


def test_plan_only_writes_the_rack_registry_and_ledger(tmp_path: Path, capsys) -> None:
    racks, ledger = tmp_path / "racks.csv", tmp_path / "ledger.json"
    code = main(["--plan-only", "--nodes", "120", "--datacenters", "3", "--provinces", "CN-GZ,CN-NM",
                 "--racks-csv", str(racks), "--ledger-json", str(ledger)])
    assert code == 0
    rows = list(csv.DictReader(racks.open()))
    assert {r["province"] for r in rows} == {"CN-GZ", "CN-NM"}
    totals = json.loads(ledger.read_text())["totals"]
    assert totals["nodes"] == 120 and totals["racks"] == len(rows)
    assert "nothing sent" in capsys.readouterr().out


def test_without_server_or_tokens_it_says_what_is_missing(capsys) -> None:
    assert main(["--nodes", "3"]) == 2
    assert "--server" in capsys.readouterr().err
    assert main(["--nodes", "3", "--server", "http://127.0.0.1:9"]) == 2
    assert "no bootstrap token" in capsys.readouterr().err


async def test_a_run_as_a_process_reports_json_and_exits_zero(tmp_path: Path) -> None:
    tokens = {"dc-a": "token-a-0123456789abcdef", "dc-b": "token-b-0123456789abcdef"}
    (tmp_path / "tokens.json").write_text(json.dumps(
        {"dc-a": tokens["dc-a"], "dc-b": {"token": tokens["dc-b"], "province": "CN-JS"}}))
    state = ContractState(tokens={tokens["dc-a"]: ("dc-a", "CN-SD"), tokens["dc-b"]: ("dc-b", "CN-JS")})
    async with TestServer(build_app(state)) as server:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "suanli.sim", "--server", str(server.make_url("/")), "--nodes", "30",
            "--tokens-file", str(tmp_path / "tokens.json"), "--provinces", "CN-SD", "--usage-interval-s", "0",
            "--cycles", "2", "--json", cwd=REPO_ROOT, stdout=asyncio.subprocess.PIPE)
        out, _ = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 0
    result = json.loads(out.decode().strip().splitlines()[-1])
    assert result["nodes_enrolled"] == 30
    assert result["ledger"]["totals"]["nodes"] == 30
    assert set(result["ledger"]["by_province"]) == {"CN-SD", "CN-JS"}
    assert dict(state.enrolled_in) == {"dc-a": 15, "dc-b": 15}
    assert all(seqs == [1, 2, 3] for seqs in state.seqs.values())


def test_suanli_sim_is_a_subcommand_of_the_control_plane_cli(capsys) -> None:
    from suanli.controlplane.cli import main as suanli_main

    assert suanli_main(["sim", "--plan-only", "--nodes", "12", "--datacenters", "2", "--json"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["ledger"]["totals"]["nodes"] == 12
