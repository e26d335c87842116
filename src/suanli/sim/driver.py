"""N simulated agents in one asyncio process: enroll, send inventory, then usage at the agent's interval."""

from __future__ import annotations

import asyncio
import json
import math
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pydantic_core
from pydantic import ValidationError

from suanli.schema import EnrollResponse, ErrorResponse
from suanli.sim.faults import FaultPlan, FaultRates, plan_faults
from suanli.sim.fleet import Fleet
from suanli.sim.ledger import Ledger
from suanli.sim.reports import UsageShape, envelope, inventory_body, malformed, usage_body
from suanli.sim.stats import MalformedStats, PhaseStats

# What the contract allows as the answer to a malformed report: bad JSON or a failed validation.
MALFORMED_STATUSES = frozenset({400, 422})
RETRY_STATUSES = frozenset({429, 503})
MAX_RETRY_AFTER_S = 30.0


class DeliveryFailed(Exception):
    """A request still failed after every retry (server unreachable, or always busy)."""


@dataclass
class SimConfig:
    """How to drive the fleet: where, with which tokens, how fast, how long, and which faults."""

    # One URL, or several comma-separated: agent i talks to URL i mod n (a stand-in for a load balancer).
    server: str
    tokens: dict[str, str]  # data center -> bootstrap token scoped to it
    usage_interval_s: float = 30.0
    cycles: int | None = None  # usage cycles per agent; with duration_s, whichever ends first
    duration_s: float | None = None
    concurrency: int = 64  # requests in flight at once
    connections: int = 64  # size of the HTTP connection pool
    faults: FaultRates = field(default_factory=FaultRates)
    request_timeout_s: float = 60.0
    max_attempts: int = 6
    seed: int = 1
    # Told "enroll", "usage" and "done" as the run moves on (benchmarks mark their clocks with it).
    on_phase: Callable[[str], None] | None = None


@dataclass(slots=True)
class SimAgent:
    """One simulated agent's state: what a real agent keeps in its state dir and spool."""

    index: int
    node_id: str | None = None
    credential: str | None = None
    seq: int = 0
    shape: UsageShape | None = None


@dataclass
class SimResult:
    """Rates per phase, the faults played, the malformed reports' answers, and the ledger."""

    phases: dict[str, PhaseStats]
    ledger: Ledger
    faults: FaultPlan
    malformed: MalformedStats
    node_ids: dict[int, str]
    unacknowledged_reports: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "nodes_enrolled": len(self.node_ids),
            "phases": {name: stats.as_dict() for name, stats in self.phases.items()},
            "faults": self.faults.summary(),
            "malformed": self.malformed.as_dict(),
            "unacknowledged_reports": self.unacknowledged_reports,
            "ledger": self.ledger.as_dict(),
        }


def _retry_after_s(header: str | None, attempt: int) -> float:
    """Honour Retry-After (seconds) when given, else back off exponentially with jitter."""
    try:
        if header is not None:
            return min(max(float(header), 0.0), MAX_RETRY_AFTER_S)
    except ValueError:
        pass
    return min(0.2 * 2**attempt, MAX_RETRY_AFTER_S) * (0.5 + random.random())


def _json_or_none(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return None


class Simulator:
    """Drives a fleet against one control plane over a single bounded aiohttp session."""

    def __init__(self, fleet: Fleet, config: SimConfig) -> None:
        missing = sorted({dc.name for dc in fleet.datacenters} - set(config.tokens))
        if missing:
            raise ValueError(f"no bootstrap token for data center(s): {', '.join(missing)}")
        self.fleet = fleet
        self.config = config
        self.agents = [SimAgent(index) for index in range(len(fleet))]
        self.faults = plan_faults([plan.shape for plan in fleet.plans], config.faults, config.seed)
        self.ledger = Ledger(fleet.racks)
        self.malformed_stats = MalformedStats()
        self.unacknowledged = 0
        self._rng = random.Random(f"{config.seed}:usage")
        self._base_urls = [url.strip().rstrip("/") for url in config.server.split(",") if url.strip()]
        if not self._base_urls:
            raise ValueError("no control-plane URL given")
        self._session: aiohttp.ClientSession | None = None
        self._planned_cycles = self._plan_cycles()

    def _plan_cycles(self) -> int | None:
        if self.config.cycles is not None:
            return self.config.cycles
        if self.config.duration_s is not None and self.config.usage_interval_s > 0:
            return max(1, math.ceil(self.config.duration_s / self.config.usage_interval_s))
        return None if self.config.duration_s is not None else 1

    async def run(self) -> SimResult:
        """Enroll every agent, then run the usage cycles; returns rates, faults and the ledger."""
        connector = aiohttp.TCPConnector(limit=self.config.connections, limit_per_host=self.config.connections)
        timeout = aiohttp.ClientTimeout(total=self.config.request_timeout_s)
        phases = {"enroll": PhaseStats("enroll")}
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            self._session = session
            self._phase("enroll")
            await self._run_workers(self.agents, phases["enroll"], self._enroll, due_s=None)
            phases["enroll"].finish()
            self._phase("usage")
            phases["usage"] = PhaseStats("usage")
            await self._run_cycles(phases["usage"])
            phases["usage"].finish()
            self._phase("done")
        node_ids = {a.index: a.node_id for a in self.agents if a.node_id}
        return SimResult(phases, self.ledger, self.faults, self.malformed_stats, node_ids, self.unacknowledged)

    def _phase(self, name: str) -> None:
        if self.config.on_phase is not None:
            self.config.on_phase(name)

    async def _run_cycles(self, stats: PhaseStats) -> None:
        """Each cycle spreads the agents evenly over one usage interval, as jittered real agents do."""
        interval_s = self.config.usage_interval_s
        deadline = None if self.config.duration_s is None else time.monotonic() + self.config.duration_s
        start = time.monotonic()
        cycle = 0
        while self._planned_cycles is None or cycle < self._planned_cycles:
            if deadline is not None and time.monotonic() >= deadline:
                break
            active = [a for a in self.agents if a.node_id and not (cycle > 0 and a.index in self.faults.silent)]
            spacing_s = interval_s / max(len(active), 1)
            due = {a.index: start + cycle * interval_s + rank * spacing_s for rank, a in enumerate(active)}
            await self._run_workers(active, stats, lambda agent, st, c=cycle: self._send_usage(agent, c, st), due)
            cycle += 1

    async def _run_workers(self, agents: Iterable[SimAgent], stats: PhaseStats, job, due_s) -> None:
        """Run `job` for every agent with at most `concurrency` at once, each not before its due time."""
        queue = iter(agents)

        async def worker() -> None:
            for agent in queue:
                if due_s is not None:
                    delay_s = due_s[agent.index] - time.monotonic()
                    if delay_s > 0:
                        await asyncio.sleep(delay_s)
                    else:
                        stats.max_lag_s = max(stats.max_lag_s, -delay_s)
                try:
                    await job(agent, stats)
                except DeliveryFailed:
                    stats.failures += 1

        await asyncio.gather(*(worker() for _ in range(max(1, self.config.concurrency))))

    async def _post(self, agent: SimAgent, path: str, payload: Any, stats: PhaseStats,
                    retry_transport: bool = True) -> tuple[int, Any]:
        """POST JSON with retries on 429/503 (honouring Retry-After) and, when safe, on transport errors."""
        assert self._session is not None
        data = pydantic_core.to_json(payload)  # compact JSON, several times faster than json.dumps
        headers = {"Content-Type": "application/json"}
        if agent.credential:
            headers["Authorization"] = f"Bearer {agent.credential}"
        url = self._base_urls[agent.index % len(self._base_urls)] + path
        for attempt in range(self.config.max_attempts):
            started = time.perf_counter()
            try:
                async with self._session.post(url, data=data, headers=headers) as response:
                    raw = await response.read()
                    stats.observe(response.status, (time.perf_counter() - started) * 1000)
                    if response.status not in RETRY_STATUSES or attempt + 1 == self.config.max_attempts:
                        return response.status, _json_or_none(raw)
                    retry_after = response.headers.get("Retry-After")
            except (aiohttp.ClientError, asyncio.TimeoutError):
                stats.transport_errors += 1
                if not retry_transport:
                    raise DeliveryFailed(path) from None
                retry_after = None
            stats.retries += 1
            await asyncio.sleep(_retry_after_s(retry_after, attempt))
        raise DeliveryFailed(path)

    def _inventory(self, agent: SimAgent, lost: bool = False):
        return self.fleet.inventory(agent.index, lost_gpu=self.faults.gpu_lost.get(agent.index) if lost else None,
                                    identity_of=self.faults.duplicate_of.get(agent.index))

    async def _enroll(self, agent: SimAgent, stats: PhaseStats) -> None:
        """Enroll with the data center's token (never retried on transport errors: a token use may be spent),
        then send the inventory as report seq 1."""
        inventory = self._inventory(agent)
        body_of_inventory = inventory_body(inventory)
        token = self.config.tokens[self.fleet.plans[agent.index].datacenter]
        request = {"token": token, "inventory": body_of_inventory}
        status, body = await self._post(agent, "/v1/enroll", request, stats, retry_transport=False)
        if status not in (200, 201):
            stats.failures += 1
            return
        try:
            answer = EnrollResponse.model_validate(body)
        except ValidationError:
            stats.failures += 1
            return
        agent.node_id, agent.credential = answer.node_id, answer.credential
        agent.shape = UsageShape.from_inventory(inventory)
        # Enrollment stored this inventory and counts it: the ledger has it now, and the same
        # inventory sent again as report seq 1 (as a real agent does) changes nothing there.
        self.ledger.record(agent.index, inventory)
        await self._deliver(agent, [("inventory", body_of_inventory)], stats)

    async def _send_usage(self, agent: SimAgent, cycle: int, stats: PhaseStats) -> None:
        """One usage cycle; a GPU-lost node first resends its inventory with the GPU fallen off."""
        bodies: list[tuple[str, dict]] = []
        new_inventory = None
        lost_cycle = 0 if self._planned_cycles == 1 else 1
        if cycle == lost_cycle and agent.index in self.faults.gpu_lost:
            new_inventory = self._inventory(agent, lost=True)
            agent.shape = UsageShape.from_inventory(new_inventory)
            bodies.append(("inventory", inventory_body(new_inventory)))
        assert agent.shape is not None
        bodies.append(("usage", usage_body(agent.shape, self._rng)))
        broken_seq = None
        if self._rng.random() < self.config.faults.malformed:
            broken_seq = agent.seq + 1
            await self._send_malformed(agent, bodies[-1][1], stats)
        stored = await self._deliver(agent, bodies, stats, new_inventory)
        if broken_seq is not None and broken_seq in stored[1]:
            self.malformed_stats.contract_violations.append(f"seq {broken_seq}: the malformed report was stored")

    async def _deliver(self, agent: SimAgent, bodies: list[tuple[str, dict]], stats: PhaseStats,
                       inventory=None) -> tuple[set[int], set[int]]:
        """Send one batch with fresh seqs; count the ack and record an acknowledged inventory in the ledger.
        Returns the seqs accepted and the seqs the control plane says it already had."""
        assert agent.node_id is not None
        reports = []
        for kind, body in bodies:
            agent.seq += 1
            reports.append(envelope(agent.node_id, agent.seq, kind, body))
        stats.reports_sent += len(reports)
        status, answer = await self._post(agent, "/v1/reports", {"reports": reports}, stats)
        if status != 200 or not isinstance(answer, dict):
            stats.failures += 1
            self.unacknowledged += len(reports)
            return set(), set()
        accepted, duplicates = set(answer.get("accepted", [])), set(answer.get("duplicates", []))
        stats.reports_accepted += len(accepted)
        stats.reports_duplicate += len(duplicates)
        self.unacknowledged += sum(1 for r in reports if r["seq"] not in accepted | duplicates)
        if inventory is not None and reports[0]["seq"] in accepted | duplicates:
            self.ledger.record(agent.index, inventory)
        return accepted, duplicates

    async def _send_malformed(self, agent: SimAgent, body: dict, stats: PhaseStats) -> None:
        """Send a broken copy of the next report under the next seq; the contract says 400/422 with an
        error body, and nothing stored (so the valid report with that seq is then accepted, not a duplicate)."""
        assert agent.node_id is not None
        how, report = malformed(envelope(agent.node_id, agent.seq + 1, "usage", body), self._rng)
        self.malformed_stats.sent += 1
        status, answer = await self._post(agent, "/v1/reports", {"reports": [report]}, stats)
        code = None
        try:
            code = ErrorResponse.model_validate(answer).error.code
        except ValidationError:
            self.malformed_stats.contract_violations.append(f"{how}: {status} without an error body")
        self.malformed_stats.by_kind[(how, status, code)] += 1
        if status not in MALFORMED_STATUSES:
            self.malformed_stats.contract_violations.append(f"{how}: answered {status}, expected 400 or 422")
