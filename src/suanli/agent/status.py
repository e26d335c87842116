"""`suanli-agent status`: enrollment, delivery, spool and collector state, from files in the state dir.

The running agent writes `status.json` after each cycle; this module reads it together with the
enrollment and the spool itself, so status works whether or not the agent is running.
"""

from __future__ import annotations

import json
import sqlite3
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from suanli.agent.enrollment import load_enrollment
from suanli.agent.spool import SPOOL_FILE
from suanli.agent.state import InstanceLock, read_json, write_json

STATUS_FILE = "status.json"


def write_status(state_dir: Path, status: dict[str, Any]) -> None:
    """Snapshot of the running agent; not fsynced (it is rewritten every cycle, losing one is harmless)."""
    write_json(Path(state_dir) / STATUS_FILE, status, durable=False)


def read_spool_counts(state_dir: Path) -> dict[str, Any]:
    """Depth and counters read straight from the spool (read-only; safe while the agent runs)."""
    path = Path(state_dir) / SPOOL_FILE
    if not path.exists():
        return {"depth": 0, "dropped_usage": 0, "rejected": 0, "last_seq": 0, "present": False}
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            depth, inventory = conn.execute(
                "SELECT count(*), coalesce(sum(kind='inventory'), 0) FROM reports"
            ).fetchone()
            meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        finally:
            conn.close()
    except sqlite3.Error as exc:
        return {"present": True, "error": str(exc)}
    return {
        "present": True,
        "depth": depth,
        "inventory_depth": inventory,
        "dropped_usage": meta.get("dropped_usage", 0),
        "rejected": meta.get("rejected", 0),
        "last_seq": meta.get("last_seq", 0),
    }


def collect_status(state_dir: Path) -> dict[str, Any]:
    """Everything `suanli-agent status` shows, as one JSON-ready dict."""
    enrollment = load_enrollment(state_dir)
    runtime = read_json(Path(state_dir) / STATUS_FILE) or {}
    # status.json says "running" until a clean stop; the lock tells whether the agent is alive now.
    runtime["running"] = InstanceLock(Path(state_dir)).held_elsewhere()
    return {
        "state_dir": str(state_dir),
        "enrolled": enrollment is not None,
        "server_url": enrollment.server_url if enrollment else None,
        "node_id": enrollment.node_id if enrollment else None,
        "datacenter": enrollment.datacenter if enrollment else None,
        "province": enrollment.province if enrollment else None,
        "spool": read_spool_counts(state_dir),
        "agent": runtime,
    }


def _when(epoch_s: float | None, now_s: float) -> str:
    if not epoch_s:
        return "never"
    stamp = datetime.fromtimestamp(epoch_s, timezone.utc).isoformat(timespec="seconds")
    return f"{stamp} ({max(0, round(now_s - epoch_s))} s ago)"


def render_status(status: dict[str, Any], now_s: float | None = None) -> str:
    """Human-readable lines for the terminal."""
    now_s = time.time() if now_s is None else now_s
    lines = []
    if status["enrolled"]:
        lines.append(f"enrolled:       node {status['node_id']} with {status['server_url']}")
        lines.append(f"datacenter:     {status['datacenter']} ({status['province']})")
    else:
        lines.append("enrolled:       no (run `suanli-agent enroll --server URL --token TOKEN`)")
    agent = status["agent"]
    delivery = agent.get("delivery", {})
    lines.append(f"agent running:  {'yes, pid ' + str(agent['pid']) if agent.get('running') else 'no'}")
    lines.append(f"last delivery:  {_when(delivery.get('last_success_at'), now_s)}")
    if delivery.get("last_error"):
        lines.append(f"last error:     {delivery['last_error']} at {_when(delivery.get('last_error_at'), now_s)}")
    spool = status["spool"]
    if "error" in spool:
        lines.append(f"spool:          unreadable: {spool['error']}")
    else:
        lines.append(
            f"spool:          {spool['depth']} reports waiting, last seq {spool['last_seq']}, "
            f"{spool['dropped_usage']} usage dropped (spool full), {spool['rejected']} rejected by server"
        )
    lines.append(f"last usage:     {_when(agent.get('last_usage_at'), now_s)}")
    lines.append(f"last inventory: {_when(agent.get('last_inventory_at'), now_s)}")
    for collector in agent.get("collectors", []):
        message = f" ({collector['message']})" if collector.get("message") else ""
        lines.append(
            f"collector {collector['name']:<12} {collector['state']:<8} {collector['duration_ms']:.1f} ms{message}"
        )
    return "\n".join(lines)


def status_command(state_dir: Path, as_json: bool = False) -> int:
    """Print the status; exit 0 when enrolled, 1 when not (so scripts can check enrollment)."""
    status = collect_status(state_dir)
    print(json.dumps(status, indent=2, sort_keys=True) if as_json else render_status(status))
    return 0 if status["enrolled"] else 1
