"""Clock skew: an agent's clock beyond the bound is flagged on the node and not trusted for freshness."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from suanli.controlplane.certification.checks import CertificationPolicy
from suanli.controlplane.certification.facts import gather
from suanli.controlplane.clock import MAX_CLOCK_SKEW
from suanli.schema import utc_now

from .conftest import Callers, Node
from .counts import record


async def _report_usage(client: Any, node: Node, offsets: list[timedelta]) -> None:
    now = utc_now()
    reports = [{"schema": "v1", "node_id": node.node_id, "seq": seq, "sent_at": (now + offset).isoformat(),
                "kind": "usage", "body": {"cpu_percent": 5.0}} for seq, offset in enumerate(offsets, start=1)]
    response = await client.post("/v1/reports", data=json.dumps({"reports": reports}), headers=node.headers)
    assert response.status == 200, await response.text()  # skewed reports are kept: the measurements are real


async def test_skewed_clocks_are_flagged_and_do_not_count_for_availability(make_client: Callable[..., Any]) -> None:
    client = await make_client()
    callers = Callers(client)
    ahead, behind, exact = [await callers.enroll(name) for name in ("gpu-ahead", "gpu-behind", "gpu-exact")]
    await _report_usage(client, ahead, [timedelta(hours=2) + timedelta(seconds=30 * i) for i in range(3)])
    await _report_usage(client, behind, [-timedelta(hours=3) + timedelta(seconds=30 * i) for i in range(3)])
    await _report_usage(client, exact, [-timedelta(seconds=60 - 30 * i) for i in range(3)])
    record("faults_injected", 2)
    operator = {"Authorization": f"Bearer {await callers.key('operator')}"}
    detail = {}
    for name, node in (("ahead", ahead), ("behind", behind), ("exact", exact)):
        detail[name] = await (await client.get(f"/v1/nodes/{node.node_id}", headers=operator)).json()
    assert 7000 < detail["ahead"]["clock_skew_s"] < 7300 and detail["ahead"]["clock_trusted"] is False
    assert -11_000 < detail["behind"]["clock_skew_s"] < -10_500 and detail["behind"]["clock_trusted"] is False
    assert abs(detail["exact"]["clock_skew_s"]) < MAX_CLOCK_SKEW.total_seconds()
    assert detail["exact"]["clock_trusted"] is True
    # Freshness: usage dated ahead of the server does not count towards the availability window.
    facts = await gather(callers.engine, utc_now(), CertificationPolicy(availability_window_s=3600))
    counted = {row.node_id: row.usage_reports_in_window for row in facts.nodes}
    assert counted[ahead.node_id] == 0  # two hours ahead: none of it trusted
    assert counted[behind.node_id] == 0  # three hours behind: outside the one-hour window
    assert counted[exact.node_id] == 3
