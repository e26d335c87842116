"""Which simulated nodes misbehave, and how: chosen once per seed so a run can be repeated exactly."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from suanli.sim.hardware import SHAPES


@dataclass(frozen=True)
class FaultRates:
    """Probabilities per node (silent, gpu_lost, duplicate_identity) and per report (malformed)."""

    silent: float = 0.0
    gpu_lost: float = 0.0
    duplicate_identity: float = 0.0
    malformed: float = 0.0

    def __post_init__(self) -> None:
        for name in ("silent", "gpu_lost", "duplicate_identity", "malformed"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"fault rate {name}={value} is not a probability in [0, 1]")


@dataclass
class FaultPlan:
    """The nodes picked for each fault: silent ones stop after enrolling and a first usage report,
    GPU-lost ones resend their inventory with one GPU fallen off the bus, duplicates claim the
    hardware identities (machine-id, DMI, GPU UUIDs, disk serials) of the node before them."""

    silent: set[int] = field(default_factory=set)
    gpu_lost: dict[int, int] = field(default_factory=dict)  # node -> index of the GPU that is lost
    duplicate_of: dict[int, int] = field(default_factory=dict)  # node -> node whose identities it claims

    def summary(self) -> dict[str, object]:
        return {
            "silent_nodes": len(self.silent),
            "gpu_lost_nodes": len(self.gpu_lost),
            "duplicate_identity_pairs": sorted(self.duplicate_of.items())[:50],
            "duplicate_identity_nodes": len(self.duplicate_of),
        }


def plan_faults(shapes: list[str], rates: FaultRates, seed: int) -> FaultPlan:
    """Pick faulty nodes (node i has shape shapes[i]); one fault per node at most, GPU loss among GPU nodes."""
    rng = random.Random(f"{seed}:faults")
    plan = FaultPlan()
    for index, shape_key in enumerate(shapes):
        accelerators = SHAPES[shape_key].accelerator_count
        if rng.random() < rates.silent:
            plan.silent.add(index)
        elif accelerators and rng.random() < rates.gpu_lost:
            plan.gpu_lost[index] = rng.randrange(accelerators)
        # claim an original's identities, never a copy's, so each conflict is one clear pair
        elif index > 0 and index - 1 not in plan.duplicate_of and rng.random() < rates.duplicate_identity:
            plan.duplicate_of[index] = index - 1
    return plan
