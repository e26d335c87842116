"""Network: physical interfaces (speed, link, MAC, MTU) and InfiniBand ports with their rate from sysfs."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from suanli.agent.collectors.base import CollectContext, Collector
from suanli.agent.sysfs import list_dir, read_int, read_line

ARPHRD_ETHER = 1
ARPHRD_INFINIBAND = 32
_IB_RATE = re.compile(r"([0-9]+(?:\.[0-9]+)?)\s*Gb/sec")


def parse_ib_rate_gbps(text: str | None) -> float | None:
    """The port rate in Gb/s from sysfs `rate`, e.g. "400 Gb/sec (4X NDR)" → 400.0."""
    match = _IB_RATE.search(text or "")
    return float(match.group(1)) if match else None


def parse_ib_state(text: str | None) -> str | None:
    """The port state name from sysfs `state`, e.g. "4: ACTIVE" → "ACTIVE"."""
    if not text:
        return None
    return text.partition(":")[2].strip() or text.strip()


def parse_speed_mbps(value: int | None) -> int | None:
    """Link speed in Mb/s; the kernel writes -1 (or refuses the read) when it is unknown or down."""
    return value if value is not None and value > 0 else None


def is_physical_interface(sys_root: Path, name: str) -> bool:
    """Loopback, bridges, bonds, VLANs, veths and tunnels live under /sys/devices/virtual/net."""
    return name != "lo" and not (sys_root / "devices" / "virtual" / "net" / name).exists()


def read_interface(sys_root: Path, name: str) -> dict[str, Any]:
    """One interface's fields from /sys/class/net/<name>."""
    base = sys_root / "class" / "net" / name
    arp_type = read_int(base / "type")
    operstate = read_line(base / "operstate")
    # Some drivers never set operstate ("unknown"): the carrier then says whether the link is up.
    link_up = operstate == "up" or (operstate == "unknown" and read_int(base / "carrier") == 1)
    kind = {ARPHRD_ETHER: "ethernet", ARPHRD_INFINIBAND: "infiniband"}.get(arp_type or 0, "other")
    return {
        "name": name,
        "kind": kind,
        "mac_address": read_line(base / "address"),
        "link_up": link_up,
        "speed_mbps": parse_speed_mbps(read_int(base / "speed")),
        "mtu": read_int(base / "mtu"),
    }


def read_ib_ports(sys_root: Path) -> list[dict[str, Any]]:
    """Every InfiniBand/RoCE port with its rate, state, link layer and the netdev it belongs to."""
    ports = []
    for device in list_dir(sys_root / "class" / "infiniband"):
        base = sys_root / "class" / "infiniband" / device
        # device/net/<netdev>/dev_port is 0-based; IB ports are numbered from 1.
        netdevs = {
            (read_int(base / "device" / "net" / nd / "dev_port") or 0) + 1: nd
            for nd in list_dir(base / "device" / "net")
        }
        for port in list_dir(base / "ports"):
            if not port.isdigit():
                continue
            port_dir = base / "ports" / port
            ports.append({
                "ib_device": device,
                "ib_port": int(port),
                "ib_rate_gbps": parse_ib_rate_gbps(read_line(port_dir / "rate")),
                "ib_state": parse_ib_state(read_line(port_dir / "state")),
                "link_layer": read_line(port_dir / "link_layer") or "InfiniBand",
                "netdev": netdevs.get(int(port)),
            })
    return ports


def _apply_ib_port(interface: dict[str, Any], port: dict[str, Any]) -> None:
    """Annotate an interface with its IB port; an IB link is up when the port is ACTIVE."""
    interface.update({key: port[key] for key in ("ib_device", "ib_port", "ib_rate_gbps", "ib_state")})
    if port["link_layer"] == "InfiniBand":
        interface["kind"] = "infiniband"
        interface["link_up"] = port["ib_state"] == "ACTIVE"
    if interface.get("speed_mbps") is None and port["ib_rate_gbps"]:
        interface["speed_mbps"] = int(port["ib_rate_gbps"] * 1000)


def read_interfaces(sys_root: Path) -> list[dict[str, Any]]:
    """Physical interfaces, each IB port merged into its netdev or listed as `<device>/<port>`."""
    interfaces = {
        name: read_interface(sys_root, name)
        for name in list_dir(sys_root / "class" / "net")
        if is_physical_interface(sys_root, name)
    }
    for port in read_ib_ports(sys_root):
        interface = interfaces.get(port["netdev"] or "")
        if interface is None:  # no IPoIB netdev configured: the port is still capacity
            name = f"{port['ib_device']}/{port['ib_port']}"
            interface = interfaces[name] = {"name": name, "kind": "other", "link_up": False}
        _apply_ib_port(interface, port)
    return list(interfaces.values())


class NetworkCollector(Collector):
    name = "network"

    def inventory(self, context: CollectContext) -> dict[str, Any]:
        return {"network_interfaces": read_interfaces(context.sys_root)}
