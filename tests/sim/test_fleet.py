"""The simulated fleet: deterministic per seed, valid inventories, unique identities, racks filled by power."""

from __future__ import annotations

import csv
import io
from collections import Counter, defaultdict

import pytest

from suanli.catalog import match_accelerator, memory_consistent
from suanli.schema import Inventory
from suanli.sim.fleet import RACK_HEIGHT_U, RACKS_CSV_COLUMNS, Fleet, choose_shape, make_datacenters
from suanli.sim.hardware import ACCELERATORS, SHAPES

DATACENTERS = make_datacenters(3, ["CN-SD", "CN-JS"])


@pytest.fixture(scope="module")
def fleet() -> Fleet:
    return Fleet(400, DATACENTERS, seed=11)


def test_datacenters_spread_over_provinces_with_readable_names() -> None:
    assert make_datacenters(3, ["CN-SD", "CN-JS"]) == [
        ("jinan-dc01", "CN-SD"), ("nanjing-dc01", "CN-JS"), ("jinan-dc02", "CN-SD")]
    with pytest.raises(ValueError):
        make_datacenters(0, ["CN-SD"])


def test_same_seed_same_fleet_other_seed_other_identities(fleet: Fleet) -> None:
    again = Fleet(400, DATACENTERS, seed=11)
    other = Fleet(400, DATACENTERS, seed=12)
    assert again.plans == fleet.plans and again.racks == fleet.racks
    for index in (0, 17, 399):
        assert again.inventory(index) == fleet.inventory(index)
    assert fleet.inventory(0).host.machine_id != other.inventory(0).host.machine_id


def test_shape_of_a_node_does_not_depend_on_fleet_size() -> None:
    small, large = Fleet(50, DATACENTERS, seed=3), Fleet(500, DATACENTERS, seed=3)
    assert [p.shape for p in small.plans] == [p.shape for p in large.plans[:50]]
    assert all(p.shape == choose_shape(3, p.index) for p in small.plans)


def test_every_inventory_validates_against_the_wire_contract(fleet: Fleet) -> None:
    for index in range(len(fleet)):
        body = fleet.inventory(index).model_dump(mode="json", by_alias=True)
        assert Inventory.model_validate(body) == fleet.inventory(index)


def test_mix_holds_every_generation_and_catalog_model(fleet: Fleet) -> None:
    shapes = Counter(plan.shape for plan in Fleet(3000, DATACENTERS, seed=5).plans)
    assert set(shapes) == set(SHAPES)
    roles = Counter(SHAPES[key].role for key in shapes.elements())
    assert roles["compute"] > roles["gpu"] > roles["storage"] > 0


@pytest.mark.parametrize("model", list(ACCELERATORS.values()), ids=list(ACCELERATORS))
def test_accelerator_names_are_what_the_catalog_matches(model) -> None:
    spec = match_accelerator(model.vendor, model.model, model.memory_total_bytes)
    assert spec is not None, f"catalog does not match {model.model!r}"
    assert memory_consistent(spec, model.memory_total_bytes)


def test_hardware_identities_are_unique_across_the_fleet(fleet: Fleet) -> None:
    seen: dict[str, set[str]] = defaultdict(set)
    for index in range(len(fleet)):
        inv = fleet.inventory(index)
        ids = {"machine": [inv.host.machine_id], "dmi": [inv.host.dmi_product_uuid],
               "gpu": [a.uuid for a in inv.accelerators], "disk": [d.serial for d in inv.block_devices],
               "mac": [n.mac_address for n in inv.network_interfaces if n.mac_address]}
        for kind, values in ids.items():
            assert len(set(values)) == len(values), f"node {index} repeats a {kind} identity"
            assert not seen[kind] & set(values), f"node {index} shares a {kind} identity"
            seen[kind] |= set(values)
    assert len(seen["gpu"]) > 0 and len(seen["disk"]) > len(fleet)


def test_gpu_nodes_have_eight_accelerators_and_fast_fabric(fleet: Fleet) -> None:
    gpu_nodes = [p.index for p in fleet.plans if SHAPES[p.shape].role == "gpu"]
    assert gpu_nodes
    for index in gpu_nodes:
        inv = fleet.inventory(index)
        assert len(inv.accelerators) == 8
        fast = [n for n in inv.network_interfaces if max((n.speed_mbps or 0) / 1000, n.ib_rate_gbps or 0) >= 100]
        assert len(fast) >= 2


def test_nfs_exports_are_shared_by_many_nodes_with_one_size(fleet: Fleet) -> None:
    sizes: dict[str, set[int]] = defaultdict(set)
    mounts = Counter()
    for index in range(len(fleet)):
        for fs in fleet.inventory(index).filesystems:
            if fs.is_network:
                sizes[fs.network_source].add(fs.size_bytes)
                mounts[fs.network_source] += 1
    assert sizes and all(len(s) == 1 for s in sizes.values())
    assert min(mounts.values()) >= 5


def test_lost_gpu_and_borrowed_identity(fleet: Fleet) -> None:
    index = next(p.index for p in fleet.plans if SHAPES[p.shape].accelerator_count and p.index > 0)
    lost = fleet.inventory(index, lost_gpu=3)
    assert lost.accelerators[3].uuid is None and "lost" in lost.accelerators[3].error
    assert [a.uuid for a in lost.accelerators if a.index != 3] == [
        a.uuid for a in fleet.inventory(index).accelerators if a.index != 3]
    twin = fleet.inventory(index, identity_of=index - 1)
    assert twin.host.machine_id == fleet.inventory(index - 1).host.machine_id
    assert twin.host.hostname == fleet.inventory(index).host.hostname


def test_racks_are_filled_within_rated_power_and_height(fleet: Fleet) -> None:
    rated = {(r.datacenter, r.name): r.rated_kw for r in fleet.racks}
    used_kw: Counter = Counter()
    units: dict[tuple[str, str], list[tuple[int, int]]] = defaultdict(list)
    for plan in fleet.plans:
        key = (plan.datacenter, plan.rack)
        assert key in rated, "every node sits in a registered rack"
        shape = SHAPES[plan.shape]
        used_kw[key] += shape.power_kw
        units[key].append((plan.rack_unit, plan.rack_unit + shape.height_u - 1))
        assert fleet.inventory(plan.index).location.rack == plan.rack
    assert all(used_kw[key] <= rated[key] + 1e-9 for key in used_kw)
    for spans in units.values():
        spans.sort()
        assert spans[-1][1] <= RACK_HEIGHT_U
        assert all(a[1] < b[0] for a, b in zip(spans, spans[1:])), "no two servers share a unit"


def test_racks_csv_has_the_import_columns(fleet: Fleet) -> None:
    rows = list(csv.DictReader(io.StringIO(fleet.racks_csv())))
    assert tuple(rows[0]) == RACKS_CSV_COLUMNS
    assert len(rows) == len(fleet.racks)
    assert {(r["datacenter"], r["province"]) for r in rows} == set(DATACENTERS)
    assert sum(float(r["rated_kw"]) for r in rows) == pytest.approx(sum(r.rated_kw for r in fleet.racks))


def test_racks_csv_imports_without_row_errors(fleet: Fleet) -> None:
    from suanli.controlplane.racks_import import parse_csv

    result = parse_csv(fleet.racks_csv())
    assert not result.errors
    assert len(result.racks) == len(fleet.racks)
    assert sum(r.rated_kw for r in result.racks) == pytest.approx(sum(r.rated_kw for r in fleet.racks))
