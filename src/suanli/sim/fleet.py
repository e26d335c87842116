"""A seeded fleet: data centers, racks filled by rated power, and which server sits where."""

from __future__ import annotations

import csv
import io
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from suanli.schema import Inventory
from suanli.sim.hardware import PROVINCE_CITIES, ROLE_WEIGHTS, SHAPE_WEIGHTS, SHAPES
from suanli.sim.machines import build_inventory

RACK_HEIGHT_U = 42
GPU_RACK_KW = 40.0
# Older halls were built for lower densities: general racks rated by data-center generation.
GENERAL_RACK_KW_CHOICES = (6.0, 8.0, 12.0)
RACKS_CSV_COLUMNS = ("datacenter", "name", "rated_kw", "height_u", "room", "province")


@dataclass(frozen=True)
class Datacenter:
    name: str
    province: str
    general_rack_kw: float


@dataclass(frozen=True)
class Rack:
    """One row of the rack registry the control plane imports (`suanli racks import`)."""

    datacenter: str
    name: str
    rated_kw: float
    height_u: int
    room: str
    province: str


@dataclass(frozen=True)
class NodePlan:
    """Where node `index` sits and what it is; the inventory itself is built on demand."""

    index: int
    shape: str
    datacenter: str
    province: str
    room: str
    rack: str
    rack_unit: int


def make_datacenters(count: int, provinces: Sequence[str]) -> list[tuple[str, str]]:
    """`count` data-center names spread round-robin over `provinces`, e.g. ("jinan-dc01", "CN-SD")."""
    if count < 1 or not provinces:
        raise ValueError("need at least one data center and one province")
    per_province: dict[str, int] = {}
    result = []
    for number in range(count):
        province = provinces[number % len(provinces)]
        per_province[province] = per_province.get(province, 0) + 1
        city = PROVINCE_CITIES.get(province, province.lower())
        result.append((f"{city}-dc{per_province[province]:02d}", province))
    return result


def choose_shape(seed: int, index: int) -> str:
    """The server shape of node `index`: stable per (seed, index), independent of fleet size."""
    rng = random.Random(f"{seed}:shape:{index}")
    role = rng.choices(list(ROLE_WEIGHTS), weights=list(ROLE_WEIGHTS.values()))[0]
    shapes = SHAPE_WEIGHTS[role]
    return rng.choices(list(shapes), weights=list(shapes.values()))[0]


class _RackFiller:
    """Fills racks of one pool (general or GPU) of one data center up to their rated power and height."""

    def __init__(self, datacenter: Datacenter, room: str, rated_kw: float, racks: list[Rack]) -> None:
        self._datacenter = datacenter
        self._room = room
        self._rated_kw = rated_kw
        self._racks = racks
        self._count = 0
        self._used_kw = 0.0
        self._next_unit = 1

    def place(self, power_kw: float, height_u: int) -> tuple[str, int]:
        """The rack name and lowest free unit for a server, opening a new rack when this one is full."""
        full = self._used_kw + power_kw > self._rated_kw + 1e-9 or self._next_unit + height_u - 1 > RACK_HEIGHT_U
        if self._count == 0 or full:
            self._count += 1
            self._used_kw = 0.0
            self._next_unit = 1
            self._racks.append(Rack(self._datacenter.name, self.rack_name, self._rated_kw, RACK_HEIGHT_U,
                                    self._room, self._datacenter.province))
        unit = self._next_unit
        self._used_kw += power_kw
        self._next_unit += height_u
        return self.rack_name, unit

    @property
    def rack_name(self) -> str:
        return f"{self._room}-R{self._count:04d}"


class Fleet:
    """N nodes over data centers: deterministic per seed, inventories built lazily (100 000 nodes fit)."""

    def __init__(self, nodes: int, datacenters: Iterable[tuple[str, str]], seed: int = 1) -> None:
        if nodes < 0:
            raise ValueError("nodes must be >= 0")
        self.seed = seed
        self.datacenters = [
            Datacenter(name, province, random.Random(f"{seed}:dc:{name}").choice(GENERAL_RACK_KW_CHOICES))
            for name, province in datacenters
        ]
        if not self.datacenters:
            raise ValueError("need at least one data center")
        self.racks: list[Rack] = []
        self.plans: list[NodePlan] = []
        self._plan(nodes)

    def _plan(self, nodes: int) -> None:
        fillers = {
            dc.name: {
                "general": _RackFiller(dc, "A1", dc.general_rack_kw, self.racks),
                "gpu": _RackFiller(dc, "H1", GPU_RACK_KW, self.racks),
            }
            for dc in self.datacenters
        }
        for index in range(nodes):
            dc = self.datacenters[index % len(self.datacenters)]
            shape_key = choose_shape(self.seed, index)
            shape = SHAPES[shape_key]
            filler = fillers[dc.name]["gpu" if shape.role == "gpu" else "general"]
            rack, unit = filler.place(shape.power_kw, shape.height_u)
            room = "H1" if shape.role == "gpu" else "A1"
            self.plans.append(NodePlan(index, shape_key, dc.name, dc.province, room, rack, unit))

    def __len__(self) -> int:
        return len(self.plans)

    def inventory(self, index: int, *, lost_gpu: int | None = None, identity_of: int | None = None) -> Inventory:
        """Node `index`'s inventory; optionally with one GPU lost or with another node's hardware identities."""
        return build_inventory(self.seed, self.plans[index], lost_gpu=lost_gpu, identity_of=identity_of)

    def racks_csv(self) -> str:
        """The rack registry as CSV with the columns `suanli racks import` reads."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(RACKS_CSV_COLUMNS)
        for rack in self.racks:
            writer.writerow([rack.datacenter, rack.name, f"{rack.rated_kw:g}", rack.height_u, rack.room,
                             rack.province])
        return out.getvalue()
