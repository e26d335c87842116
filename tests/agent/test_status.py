"""`suanli-agent status`: enrollment, last delivery, spool depth, drops and collectors from the state dir."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fakes.control_plane import CREDENTIAL, NODE_ID

from suanli.agent.cli import main
from suanli.agent.enrollment import Enrollment, save_enrollment
from suanli.agent.spool import Spool
from suanli.agent.state import InstanceLock, StateError
from suanli.agent.status import collect_status, render_status, write_status

NOW_S = 1_800_000_000.0


def populate(state_dir: Path) -> None:
    save_enrollment(
        state_dir, Enrollment("https://cp.example", NODE_ID, CREDENTIAL, "dc-jinan-1", "CN-SD", "2026-11-21T08:00:00Z")
    )
    spool = Spool(state_dir, max_bytes=10**9, max_reports=10)
    for _ in range(13):
        spool.append("usage", '{"cpu_percent":1.0}', "2026-11-21T08:00:00+00:00")
    spool.set_aside([5], "HTTP 422: validation_failed")
    spool.close()
    write_status(
        state_dir,
        {
            "running": True,
            "pid": 4242,
            "last_usage_at": NOW_S - 20,
            "last_inventory_at": NOW_S - 300,
            "collectors": [
                {"name": "cpu", "state": "ok", "duration_ms": 1.25, "message": None},
                {"name": "gpu", "state": "no_data", "duration_ms": 0.5, "message": "NVML not loaded"},
            ],
            "delivery": {"last_success_at": NOW_S - 5, "last_error": "HTTP 503", "last_error_at": NOW_S - 60},
        },
    )


def test_status_of_an_enrolled_agent(tmp_path: Path) -> None:
    populate(tmp_path)
    status = collect_status(tmp_path)
    assert status["node_id"] == NODE_ID and status["server_url"] == "https://cp.example"
    assert status["spool"]["depth"] == 9  # 13 appended, 3 dropped at the bound of 10, 1 set aside
    assert status["spool"]["dropped_usage"] == 3 and status["spool"]["rejected"] == 1
    assert status["spool"]["last_seq"] == 13
    assert status["agent"]["running"] is False  # nobody holds the lock: the snapshot is stale
    text = render_status(status, now_s=NOW_S)
    assert f"node {NODE_ID} with https://cp.example" in text
    assert "(5 s ago)" in text
    assert "9 reports waiting, last seq 13, 3 usage dropped (spool full), 1 rejected by server" in text
    assert "collector gpu" in text and "NVML not loaded" in text
    assert "agent running:  no" in text
    assert CREDENTIAL not in text and CREDENTIAL not in json.dumps(status)


def test_running_agent_is_detected_by_its_lock(tmp_path: Path) -> None:
    populate(tmp_path)
    lock = InstanceLock(tmp_path)
    lock.acquire()
    try:
        status = collect_status(tmp_path)
    finally:
        lock.release()
    assert status["agent"]["running"] is True
    assert "yes, pid 4242" in render_status(status, now_s=NOW_S)


def test_status_command_json_and_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty"
    assert main(["status", "--state-dir", str(empty)]) == 1
    assert "enrolled:       no" in capsys.readouterr().out
    populate(tmp_path / "s")
    assert main(["status", "--state-dir", str(tmp_path / "s"), "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["enrolled"] is True and document["spool"]["depth"] == 9


def test_second_agent_on_the_same_state_dir_is_refused(tmp_path: Path) -> None:
    first = InstanceLock(tmp_path)
    first.acquire()
    try:
        with pytest.raises(StateError, match="another suanli-agent"):
            InstanceLock(tmp_path).acquire()
    finally:
        first.release()
    again = InstanceLock(tmp_path)
    again.acquire()  # released: a later agent may start
    again.release()
