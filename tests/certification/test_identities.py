"""Hardware identities are extracted without placeholders and conflicts name both claimants."""

from __future__ import annotations

from suanli.controlplane.certification.identities import (
    Identity,
    find_identity_conflicts,
    hardware_identities,
    hashed_identities,
)
from suanli.schema import Inventory


def _inventory(dmi_uuid: str | None, gpu_uuids: list[str | None], serials: list[str | None]) -> Inventory:
    return Inventory.model_validate(
        {
            "host": {"hostname": "h", "machine_id": "b" * 32, "dmi_product_uuid": dmi_uuid},
            "accelerators": [
                {"vendor": "nvidia", "index": i, "uuid": uuid} for i, uuid in enumerate(gpu_uuids)
            ],
            "block_devices": [
                {"name": f"sd{i}", "serial": serial, "size_bytes": 10} for i, serial in enumerate(serials)
            ],
        }
    )


def test_identities_skip_placeholders_and_missing_values() -> None:
    inventory = _inventory("To Be Filled By O.E.M.", ["GPU-a", None], ["S1", "  ", None])
    assert hardware_identities(inventory) == {
        Identity("machine_id", "b" * 32),
        Identity("accelerator_uuid", "GPU-a"),
        Identity("disk_serial", "S1"),
    }


def test_dmi_uuid_is_case_insensitive() -> None:
    upper = hardware_identities(_inventory("4C4C4544-00AB", [], []))
    lower = hardware_identities(_inventory("4c4c4544-00ab", [], []))
    assert upper == lower


def test_hashes_are_sha256_and_sorted_and_hide_values() -> None:
    hashes = hashed_identities(hardware_identities(_inventory(None, ["GPU-a"], ["S1"])))
    assert hashes == sorted(hashes)
    assert all(len(h) == 64 for h in hashes)
    assert not any("GPU-a" in h for h in hashes)


def test_conflicts_name_every_other_claimant() -> None:
    shared = Identity("accelerator_uuid", "GPU-x")
    conflicts = find_identity_conflicts(
        {"n1": {shared, Identity("machine_id", "1")}, "n2": {shared}, "n3": {shared}, "n4": {Identity("machine_id", "4")}}
    )
    assert set(conflicts) == {"n1", "n2", "n3"}
    assert [c.other_node_id for c in conflicts["n1"]] == ["n2", "n3"]
    assert all(c.identity == shared for c in conflicts["n2"])
