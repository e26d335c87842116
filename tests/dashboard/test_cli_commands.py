"""`suanli capacity|nodes|node show|certs` against a served app: tables, --json, one-line errors, exit codes."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from suanli.controlplane.cli import main
from tests.conftest import free_tcp_port
from tests.controlplane.factories import batch_json, inventory, inventory_report, usage, usage_report


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """HTTP behaviour, not storage: SQLite is enough (the store tests cover both databases)."""
    return f"sqlite:///{tmp_path / 'suanli.db'}"


async def _suanli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run the CLI in a worker thread (it runs its own event loop) while this loop serves the app."""
    code = await asyncio.get_running_loop().run_in_executor(None, main, list(argv))
    out, err = capsys.readouterr()
    return code, out, err


async def _served(client: Any, helper: Any) -> tuple[list[str], str]:
    inv = inventory(hostname="gpu-cli-1", gpus=2)
    node_id, headers = await helper.enroll(inv)
    batch = batch_json(inventory_report(node_id, 1, inv), usage_report(node_id, 2, usage((75.0, 0.0))))
    response = await client.post("/v1/reports", data=batch, headers={**headers, "Content-Type": "application/json"})
    assert response.status == 200
    secret = (await helper.key())["Authorization"].removeprefix("Bearer ")
    return ["--server", str(client.make_url("")).rstrip("/"), "--key", secret], node_id


async def test_tables_show_what_the_server_holds(client, helper, capsys) -> None:
    connection, node_id = await _served(client, helper)
    code, out, _ = await _suanli(capsys, "capacity", *connection, "--by", "datacenter")
    assert code == 0 and "dc-jinan-1" in out and "TOTAL" in out and "NVIDIA H100" in out
    code, out, _ = await _suanli(capsys, "nodes", *connection)
    assert code == 0 and node_id in out and "gpu-cli-1" in out
    code, out, _ = await _suanli(capsys, "node", "show", node_id, *connection)
    assert code == 0 and "CN-SD / dc-jinan-1 / rack R01" in out and "75%" in out and "GPU-gpu-cli-1-1" in out
    code, out, _ = await _suanli(capsys, "certs", *connection)
    assert code == 0 and "0 certified, 0 uncertified, 1 not yet evaluated" in out and node_id in out


async def test_json_output_is_the_server_answer(client, helper, capsys) -> None:
    connection, node_id = await _served(client, helper)
    code, out, _ = await _suanli(capsys, "node", "show", node_id, *connection, "--json")
    assert code == 0 and json.loads(out)["inventory"]["host"]["hostname"] == "gpu-cli-1"
    code, out, _ = await _suanli(capsys, "certs", *connection, "--json", "--state", "unevaluated")
    assert code == 0 and [n["node_id"] for n in json.loads(out)["nodes"]] == [node_id]


async def test_errors_exit_non_zero_with_one_clear_line(client, helper, capsys) -> None:
    connection, _ = await _served(client, helper)
    server = connection[1]
    cases = [
        (["node", "show", "nd-missing", *connection], "404 node_not_found: no such node: nd-missing"),
        (["certs", "--server", server, "--key", "slk_wrong"], "401 invalid_api_key"),
        (["nodes", "--server", f"http://127.0.0.1:{free_tcp_port()}", "--key", "slk_x"], "cannot reach http://127.0.0.1:"),
        (["capacity", "--server", "htp:/x", "--key", "slk_x"], "must be an http:// or https:// URL"),
    ]
    for argv, message in cases:
        code, out, err = await _suanli(capsys, *argv)
        assert code == 1 and out == "", argv
        assert err.startswith("suanli: ") and message in err and err.count("\n") == 1, err
    national = (await helper.key("national"))["Authorization"].removeprefix("Bearer ")
    code, _, err = await _suanli(capsys, "certs", "--server", server, "--key", national)
    assert code == 1 and "403 forbidden_role" in err and "operator or admin key" in err
