"""A compact human-readable summary of one inventory and usage report (`suanli-agent collect`)."""

from __future__ import annotations

from suanli.schema import Inventory, Usage


def human_bytes(value: int | None) -> str:
    """1536 → "1.5 KiB": binary units, as capacity is counted."""
    if value is None:
        return "?"
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if size < 1024 or unit == "PiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} PiB"


def _host_lines(inventory: Inventory) -> list[str]:
    host = inventory.host
    os_text = ", ".join(v for v in (host.os_name, host.kernel_release and f"kernel {host.kernel_release}",
                                    host.architecture) if v)
    dmi = " ".join(v for v in (host.dmi_sys_vendor, host.dmi_product_name) if v) or "not readable"
    lines = [f"host         {host.hostname} ({os_text})",
             f"             machine-id {host.machine_id or '?'}; DMI {dmi}"
             + (f", uuid {host.dmi_product_uuid}" if host.dmi_product_uuid else "")]
    location = inventory.location
    parts = [f"{k} {v}" for k, v in location.model_dump().items() if v is not None]
    lines.append(f"location     {', '.join(parts) if parts else 'not configured'}")
    return lines


def _cpu_memory_lines(inventory: Inventory, usage: Usage) -> list[str]:
    lines = []
    if inventory.cpu:
        cpu = inventory.cpu
        clock = f", {cpu.base_mhz:.0f} MHz base" if cpu.base_mhz else ""
        features = " ".join(cpu.isa_features) or "none"
        lines.append(f"cpu          {cpu.model or '?'}: {cpu.sockets} socket(s), {cpu.physical_cores} cores, "
                     f"{cpu.logical_cores} logical{clock}; ISA {features}")
    percent = "n/a (first sample)" if usage.cpu_percent is None else f"{usage.cpu_percent:.1f}%"
    load = "" if usage.load_1m is None else f", load {usage.load_1m:.2f} {usage.load_5m:.2f} {usage.load_15m:.2f}"
    lines.append(f"cpu use      {percent}{load}")
    if inventory.memory:
        memory = inventory.memory
        lines.append(f"memory       {human_bytes(memory.total_bytes)} (swap {human_bytes(memory.swap_total_bytes)});"
                     f" used {human_bytes(usage.memory_used_bytes)}, available {human_bytes(usage.memory_available_bytes)}")
    return lines


def _accelerator_lines(inventory: Inventory) -> list[str]:
    lines = [f"accelerator  #{a.index} {a.vendor.value} {a.model or '?'} {human_bytes(a.memory_total_bytes)}"
             f" uuid {a.uuid or '?'}" + (f" ERROR {a.error}" if a.error else "") for a in inventory.accelerators]
    if not lines:
        lines.append("accelerators none")
    for backend in inventory.accelerator_backends:
        state = f"{backend.device_count} device(s)" if backend.available else f"unavailable: {backend.reason or '?'}"
        lines.append(f"  backend    {backend.name}: {state}")
    return lines


def _storage_network_lines(inventory: Inventory) -> list[str]:
    lines = [f"disk         {d.name} {human_bytes(d.size_bytes)} {d.media.value} model {d.model or '?'}"
             f" serial {d.serial or '?'}" for d in inventory.block_devices]
    for fs in inventory.filesystems:
        where = f" from {fs.network_source}" if fs.is_network else ""
        lines.append(f"filesystem   {fs.mountpoint} {fs.fstype} {human_bytes(fs.size_bytes)}, "
                     f"{human_bytes(fs.used_bytes)} used{where}")
    for nic in inventory.network_interfaces:
        speed = f"{nic.speed_mbps} Mb/s" if nic.speed_mbps else "speed unknown"
        ib = f", IB {nic.ib_device} port {nic.ib_port} {nic.ib_rate_gbps:g} Gb/s {nic.ib_state}" if nic.ib_device else ""
        lines.append(f"network      {nic.name} {nic.kind.value} {'up' if nic.link_up else 'down'}, {speed}, "
                     f"mtu {nic.mtu}, {nic.mac_address or 'no address'}{ib}")
    return lines


def _collector_lines(inventory: Inventory, usage: Usage) -> list[str]:
    lines = []
    for phase, statuses in (("inventory", inventory.collectors), ("usage", usage.collectors)):
        parts = [f"{s.name} {s.state.value} {s.duration_ms:.1f} ms" + (f" ({s.message})" if s.message else "")
                 for s in statuses]
        lines.append(f"collectors   {phase}: " + "; ".join(parts))
    return lines


def render_summary(inventory: Inventory, usage: Usage) -> str:
    """Host, CPU, memory, accelerators and backends, disks, filesystems, NICs and collector statuses."""
    lines = (_host_lines(inventory) + _cpu_memory_lines(inventory, usage) + _accelerator_lines(inventory)
             + _storage_network_lines(inventory) + _collector_lines(inventory, usage))
    return "\n".join(lines)
