"""Tests of the network collector: rate and state parsing, interfaces and InfiniBand ports on fixture trees."""

from __future__ import annotations

from collections.abc import Callable

from suanli.agent.collectors.base import CollectContext
from suanli.agent.collectors.network import (
    NetworkCollector,
    parse_ib_rate_gbps,
    parse_ib_state,
    parse_speed_mbps,
)


def _by_name(context: CollectContext) -> dict[str, dict]:
    return {nic["name"]: nic for nic in NetworkCollector().inventory(context)["network_interfaces"]}


def test_ib_rate_and_state() -> None:
    assert parse_ib_rate_gbps("400 Gb/sec (4X NDR)") == 400.0
    assert parse_ib_rate_gbps("2.5 Gb/sec (1X SDR)") == 2.5
    assert parse_ib_rate_gbps("garbage") is None
    assert parse_ib_state("4: ACTIVE") == "ACTIVE"
    assert parse_ib_state("1: DOWN\n") == "DOWN"
    assert parse_ib_state(None) is None


def test_unknown_speed_is_null() -> None:
    assert parse_speed_mbps(-1) is None
    assert parse_speed_mbps(None) is None
    assert parse_speed_mbps(25000) == 25000


def test_virtual_and_loopback_interfaces_are_skipped(host_context: Callable[..., CollectContext]) -> None:
    nics = _by_name(host_context("two-socket"))
    assert sorted(nics) == ["eno1", "eno2"]  # bond0 and lo are under /sys/devices/virtual/net
    assert nics["eno1"]["speed_mbps"] == 25000 and nics["eno1"]["link_up"] is True and nics["eno1"]["mtu"] == 9000
    assert nics["eno2"]["speed_mbps"] is None and nics["eno2"]["link_up"] is False
    assert nics["eno1"]["mac_address"] == "b4:96:91:aa:bb:01"


def test_unknown_operstate_falls_back_to_carrier(host_context: Callable[..., CollectContext]) -> None:
    nics = _by_name(host_context("nvme-nfs"))
    assert sorted(nics) == ["enp125s0f0", "enp125s0f1"]
    assert nics["enp125s0f1"]["link_up"] is True


def test_infiniband_ports_map_to_their_netdevs(host_context: Callable[..., CollectContext]) -> None:
    nics = _by_name(host_context("infiniband"))
    ib0 = nics["ib0"]
    assert (ib0["kind"], ib0["ib_device"], ib0["ib_port"], ib0["ib_rate_gbps"], ib0["ib_state"]) == (
        "infiniband", "mlx5_0", 1, 400.0, "ACTIVE")
    assert ib0["link_up"] is True and ib0["speed_mbps"] == 400_000
    assert nics["ib1"]["link_up"] is False and nics["ib1"]["ib_state"] == "DOWN"


def test_port_without_netdev_is_still_listed(host_context: Callable[..., CollectContext]) -> None:
    port = _by_name(host_context("infiniband"))["mlx5_2/1"]
    assert (port["kind"], port["ib_rate_gbps"], port["link_up"], port["speed_mbps"]) == ("infiniband", 200.0, True, 200_000)


def test_roce_port_stays_ethernet(host_context: Callable[..., CollectContext]) -> None:
    nic = _by_name(host_context("infiniband"))["ens1f0np0"]
    assert nic["kind"] == "ethernet" and nic["ib_device"] == "mlx5_3" and nic["speed_mbps"] == 200_000


def test_captured_vm_has_one_nic(host_context: Callable[..., CollectContext]) -> None:
    nics = _by_name(host_context("captured-vm"))
    assert list(nics) == ["eth0"]
    assert nics["eth0"]["speed_mbps"] is None and nics["eth0"]["link_up"] is True
