"""Hardware identities of a node (machine-id, DMI UUID, accelerator UUIDs, disk serials) and their hashes."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from suanli.schema import Inventory

# DMI fields that firmware vendors fill with placeholders: never an identity, or every board would clash.
_PLACEHOLDER_VALUES = frozenset(
    {
        "",
        "none",
        "not specified",
        "not present",
        "to be filled by o.e.m.",
        "default string",
        "system serial number",
        "0",
        "00000000-0000-0000-0000-000000000000",
        "03000200-0400-0500-0006-000700080009",
        "ffffffff-ffff-ffff-ffff-ffffffffffff",
    }
)


@dataclass(frozen=True, order=True, slots=True)
class Identity:
    """One hardware identity: its kind (machine_id, dmi_uuid, accelerator_uuid, disk_serial) and value."""

    kind: str
    value: str

    def digest(self) -> str:
        """SHA-256 of `kind:value` in hex: what certificates carry, so serials never leave in clear."""
        return hashlib.sha256(f"{self.kind}:{self.value}".encode()).hexdigest()


def _usable(value: str | None) -> str | None:
    if value is None:
        return None
    cleaned = value.strip()
    return None if cleaned.lower() in _PLACEHOLDER_VALUES else cleaned


def hardware_identities(inventory: Inventory) -> frozenset[Identity]:
    """Every identity that must belong to one node only, placeholders and missing values skipped."""
    found: set[Identity] = set()
    host = inventory.host
    if (machine_id := _usable(host.machine_id)) is not None:
        found.add(Identity("machine_id", machine_id))
    if (dmi_uuid := _usable(host.dmi_product_uuid)) is not None:
        found.add(Identity("dmi_uuid", dmi_uuid.lower()))
    for accelerator in inventory.accelerators:
        if (uuid := _usable(accelerator.uuid)) is not None:
            found.add(Identity("accelerator_uuid", uuid))
    for device in inventory.block_devices:
        if (serial := _usable(device.serial)) is not None:
            found.add(Identity("disk_serial", serial))
    return frozenset(found)


def hashed_identities(identities: Iterable[Identity]) -> list[str]:
    """Sorted digests of identities, the form in which certificates publish them."""
    return sorted(identity.digest() for identity in identities)


@dataclass(frozen=True)
class IdentityConflict:
    """An identity this node claims that another node claims too."""

    identity: Identity
    other_node_id: str


def find_identity_conflicts(
    identities_by_node: Mapping[str, Iterable[Identity]],
) -> dict[str, list[IdentityConflict]]:
    """For each node that shares an identity with another node, the identities and the other claimants."""
    owners: dict[Identity, list[str]] = defaultdict(list)
    for node_id, identities in identities_by_node.items():
        for identity in set(identities):
            owners[identity].append(node_id)
    conflicts: dict[str, list[IdentityConflict]] = defaultdict(list)
    for identity, node_ids in owners.items():
        if len(node_ids) < 2:
            continue
        for node_id in node_ids:
            for other in node_ids:
                if other != node_id:
                    conflicts[node_id].append(IdentityConflict(identity, other))
    return {node_id: sorted(found, key=lambda c: (c.identity, c.other_node_id)) for node_id, found in conflicts.items()}
