"""The asyncio driver against a server that enforces the v1 contract: enrollment per data center,
monotonic seqs, retries on 429, faults, and a ledger equal to what the server stored."""

from __future__ import annotations

from aiohttp.test_utils import TestServer
import pytest

from suanli.sim.driver import SimConfig, Simulator
from suanli.sim.faults import FaultRates
from suanli.sim.fleet import Fleet, make_datacenters
from suanli.sim.ledger import Ledger
from tests.sim.contract_server import ContractState, build_app

DATACENTERS = make_datacenters(3, ["CN-SD", "CN-JS"])


def _tokens() -> tuple[dict[str, str], dict[str, tuple[str, str]]]:
    by_dc = {name: f"token-for-{name}-0123456789" for name, _ in DATACENTERS}
    return by_dc, {token: (name, dict(DATACENTERS)[name]) for name, token in by_dc.items()}


async def _run(fleet: Fleet, state: ContractState, **config) -> tuple:
    by_dc, _ = _tokens()
    async with TestServer(build_app(state)) as server:
        sim = Simulator(fleet, SimConfig(server=str(server.make_url("/")), tokens=by_dc, usage_interval_s=0,
                                         concurrency=8, connections=8, **config))
        result = await sim.run()
    return sim, result


def _server_ledger(state: ContractState, result) -> Ledger:
    ledger = Ledger(result.ledger._racks)
    index_of = {node_id: index for index, node_id in result.node_ids.items()}
    for node_id, inventory in state.inventories.items():
        ledger.record(index_of[node_id], inventory)
    return ledger


async def test_clean_run_enrolls_everyone_and_the_ledger_matches_what_was_stored() -> None:
    fleet = Fleet(60, DATACENTERS, seed=4)
    state = ContractState(tokens=_tokens()[1])
    seen: list[tuple[str, int]] = []
    sim, result = await _run(fleet, state, cycles=3,
                             on_phase=lambda name: seen.append((name, sum(len(s) for s in state.seqs.values()))))
    assert seen == [("enroll", 0), ("usage", 60), ("done", 60 * 4)], "phases told as stored reports grow"
    assert len(result.node_ids) == 60
    assert dict(state.enrolled_in) == {name: sum(p.datacenter == name for p in fleet.plans) for name, _ in DATACENTERS}
    assert all(seqs == [1, 2, 3, 4] for seqs in state.seqs.values()), "inventory then three usage reports"
    assert result.phases["usage"].reports_accepted == 60 * 3
    assert result.phases["enroll"].retries >= 60, "every node was told 429 once and retried"
    assert result.unacknowledged_reports == 0 and result.phases["usage"].failures == 0
    assert _server_ledger(state, result).as_dict() == result.ledger.as_dict()
    assert result.ledger.totals().nodes == 60


async def test_enrollment_answered_503_is_retried_and_counted_once() -> None:
    fleet = Fleet(20, DATACENTERS, seed=5)
    state = ContractState(tokens=_tokens()[1], busy_once=False, enroll_unavailable=7)
    _, result = await _run(fleet, state, cycles=1)
    assert len(result.node_ids) == 20 and len(state.credentials) == 20, "each retried enrollment made one node"
    assert result.phases["enroll"].statuses[503] == 7 and result.phases["enroll"].retries == 7
    assert result.phases["enroll"].failures == 0 and result.unacknowledged_reports == 0


async def test_faults_silent_lost_gpu_duplicate_identity_and_malformed() -> None:
    fleet = Fleet(80, DATACENTERS, seed=9)
    rates = FaultRates(silent=0.15, gpu_lost=0.5, duplicate_identity=0.15, malformed=0.3)
    state = ContractState(tokens=_tokens()[1], busy_once=False)
    sim, result = await _run(fleet, state, cycles=3, faults=rates)
    faults = result.faults
    assert faults.silent and faults.gpu_lost and faults.duplicate_of
    node = result.node_ids
    for index in faults.silent:
        assert state.seqs[node[index]] == [1, 2], "silent after the first usage report"
    for index, gpu in faults.gpu_lost.items():
        stored = state.inventories[node[index]]
        assert stored.accelerators[gpu].uuid is None and stored.accelerators[gpu].error
    for copy, original in faults.duplicate_of.items():
        assert state.inventories[node[copy]].host.machine_id == state.inventories[node[original]].host.machine_id
    assert result.ledger.totals().accelerators_lost == len(faults.gpu_lost)
    assert result.malformed.sent > 0 and state.rejected == result.malformed.sent
    assert result.malformed.as_dict()["rejected_4xx"] == result.malformed.sent
    assert result.malformed.contract_violations == []
    for seqs in state.seqs.values():
        assert seqs == list(range(1, len(seqs) + 1)), "a rejected malformed report leaves no gap"
    assert _server_ledger(state, result).as_dict() == result.ledger.as_dict()


async def test_a_server_that_accepts_malformed_reports_is_caught() -> None:
    state = ContractState(tokens=_tokens()[1], busy_once=False, accept_malformed=True)
    _, result = await _run(Fleet(10, DATACENTERS, seed=2), state, cycles=2, faults=FaultRates(malformed=1.0))
    assert result.malformed.sent == 20
    assert len(result.malformed.contract_violations) >= 20


def test_every_data_center_needs_a_token() -> None:
    by_dc, _ = _tokens()
    by_dc.pop(DATACENTERS[0][0])
    with pytest.raises(ValueError, match=DATACENTERS[0][0]):
        Simulator(Fleet(5, DATACENTERS), SimConfig(server="http://127.0.0.1:9", tokens=by_dc))


def test_fault_rates_must_be_probabilities() -> None:
    with pytest.raises(ValueError):
        FaultRates(silent=1.5)


async def test_agents_split_over_several_servers() -> None:
    by_dc, by_token = _tokens()
    states = [ContractState(tokens=by_token, busy_once=False) for _ in range(2)]
    fleet = Fleet(21, DATACENTERS, seed=6)
    async with TestServer(build_app(states[0])) as first, TestServer(build_app(states[1])) as second:
        urls = f"{first.make_url('/')},{second.make_url('/')}"
        result = await Simulator(fleet, SimConfig(server=urls, tokens=by_dc, usage_interval_s=0, cycles=1)).run()
    assert len(result.node_ids) == 21
    assert [len(s.inventories) for s in states] == [11, 10], "agent i goes to server i mod 2"


@pytest.mark.parametrize(("cycles", "duration_s", "interval_s", "planned"), [
    (None, None, 30.0, 1),  # neither: one usage cycle
    (4, 600.0, 30.0, 4),  # cycles given: at most that many, the duration may end it sooner
    (None, 95.0, 30.0, 4),  # duration at the interval: cycles that start within it
    (None, 5.0, 0.0, None),  # as fast as possible for a while: until the deadline
])
def test_how_many_usage_cycles_are_planned(cycles, duration_s, interval_s, planned) -> None:
    config = SimConfig(server="http://127.0.0.1:9", tokens=_tokens()[0], cycles=cycles, duration_s=duration_s,
                       usage_interval_s=interval_s)
    assert Simulator(Fleet(3, DATACENTERS), config)._planned_cycles == planned
