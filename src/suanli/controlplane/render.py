"""Readable terminal tables of capacity, nodes, one node and certification (what the client commands print)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

_BYTE_UNITS = ("B", "KB", "MB", "GB", "TB", "PB", "EB")
_FLOPS_UNITS = ("", "K", "M", "G", "T", "P", "E", "Z")


def human_bytes(value: float) -> str:
    """Decimal units, as disks and national statistics count them."""
    unit = 0
    while value >= 1000 and unit < len(_BYTE_UNITS) - 1:
        value /= 1000
        unit += 1
    return f"{value:.1f} {_BYTE_UNITS[unit]}" if unit else f"{int(value)} B"


def human_flops(value: float) -> str:
    unit = 0
    while value >= 1000 and unit < len(_FLOPS_UNITS) - 1:
        value /= 1000
        unit += 1
    return f"{value:.1f} {_FLOPS_UNITS[unit]}FLOPS"


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Left-aligned text columns; numbers right-aligned."""
    cells = [[str(h) for h in headers]] + [[("" if c is None else str(c)) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    numeric = [all(_is_number(r[i]) for r in cells[1:]) and len(cells) > 1 for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        return "  ".join(c.rjust(w) if n else c.ljust(w) for c, w, n in zip(row, widths, numeric)).rstrip()

    return "\n".join([line(cells[0]), line(["-" * w for w in widths]), *(line(r) for r in cells[1:])])


def _is_number(text: str) -> bool:
    return text.replace(".", "", 1).replace("/", "", 1).isdigit()


def _group_label(group: dict[str, Any], by: str) -> str:
    if by == "rack":
        return f"{group.get('datacenter')}/{group.get('rack') or '(no rack)'}"
    if by == "accelerator_model":
        return f"{group.get('vendor') or ''} {group.get('accelerator_model') or '(none)'}".strip()
    return str(group.get(by) or "(none)")


def _capacity_row(label: str, g: dict[str, Any]) -> list[Any]:
    standard = g.get("standard_racks")
    return [
        label, g["nodes"], f"{g['cpu_physical_cores']}/{g['cpu_logical_cores']}", human_bytes(g["memory_bytes"]),
        f"{g['accelerators_in_use']}/{g['accelerators_total']}", human_flops(g["flops"].get("fp16", 0.0)),
        human_flops(g["flops"].get("fp32", 0.0)), human_bytes(g["storage_bytes"]),
        f"{g['ports_400g']}/{g['ports_200g']}/{g['ports_100g']}", "" if standard is None else f"{standard:.1f}",
    ]


def capacity_table(body: dict[str, Any]) -> str:
    """One row per group plus the total, and the accelerator models seen."""
    by = body["by"]
    headers = [by, "nodes", "cores phys/log", "memory", "accel used/all", "FP16", "FP32", "storage",
               "ports 400G/200G/100G", "std racks"]
    rows = [_capacity_row(_group_label(g, by), g) for g in body["groups"]]
    rows.append(_capacity_row("TOTAL", body["total"]))
    lines = [table(headers, rows)]
    models = body["total"]["accelerators"]
    if models:
        lines.append("")
        lines.append(table(
            ["vendor", "accelerator model", "in use", "total", "in catalog"],
            [[m["vendor"], m["model"], m["in_use"], m["total"], "yes" if m["known"] else "NO (no FLOPS)"] for m in models],
        ))
    return "\n".join(lines)


def nodes_table(body: dict[str, Any]) -> str:
    rows = [
        [n["node_id"], n["hostname"], n["status"], n["province"], n["datacenter"], n.get("rack") or "",
         n["accelerators"], n["last_seen_at"]]
        for n in body["nodes"]
    ]
    text = table(["node", "hostname", "status", "province", "datacenter", "rack", "accel", "last seen"], rows)
    if body.get("next_cursor"):
        text += f"\n(more: --cursor {body['next_cursor']})"
    return text


def _accelerator_rows(inventory: dict[str, Any], usage: dict[str, Any] | None) -> list[list[Any]]:
    used = {a["index"]: a for a in (usage or {}).get("accelerators", [])}
    rows = []
    for a in inventory.get("accelerators", []):
        now = used.get(a["index"], {})
        utilisation = now.get("utilization_percent")
        rows.append([a["index"], a.get("vendor", ""), a.get("model", ""), human_bytes(a.get("memory_total_bytes") or 0),
                     "" if utilisation is None else f"{utilisation:.0f}%", a.get("uuid") or ""])
    return rows


def node_text(body: dict[str, Any]) -> str:
    """`suanli node show ID`: where the node is, what it has, and how busy it was last."""
    inventory, usage = body["inventory"], body.get("latest_usage")
    cpu, memory = inventory.get("cpu") or {}, inventory.get("memory") or {}
    facts = [
        ["node", body["node_id"]], ["hostname", body["hostname"]],
        ["status", body["status"] + (f" ({body['status_reason']})" if body.get("status_reason") else "")],
        ["place", f"{body['province']} / {body['datacenter']} / rack {body.get('rack') or '(none)'}"],
        ["cpu", f"{cpu.get('model') or '?'}: {cpu.get('physical_cores', '?')} cores, {cpu.get('logical_cores', '?')} threads"],
        ["memory", human_bytes(memory.get("total_bytes") or 0)],
        ["storage", human_bytes(sum(d.get("size_bytes") or 0 for d in inventory.get("block_devices", [])))],
        ["enrolled", body["enrolled_at"]], ["last seen", f"{body['last_seen_at']} (seq {body['last_seq']})"],
    ]
    if usage:
        facts.append(["cpu use", "" if usage.get("cpu_percent") is None else f"{usage['cpu_percent']:.0f}%"])
    lines = [table(["field", "value"], facts)]
    accelerators = _accelerator_rows(inventory, usage)
    if accelerators:
        lines += ["", table(["#", "vendor", "accelerator", "memory", "in use now", "uuid"], accelerators)]
    return "\n".join(lines)


def certs_table(body: dict[str, Any]) -> str:
    """`suanli certs`: counts by state, then each node (problems first) with its failing checks."""
    counts = body["counts"]
    header = (f"{counts['certified']} certified, {counts['uncertified']} uncertified, "
              f"{counts['unevaluated']} not yet evaluated; {counts['stale']} stale, {counts['quarantined']} quarantined")
    rows = [
        [n["node_id"], n["hostname"], n["datacenter"], n.get("rack") or "", n["status"],
         n["last_seen_at"] + (" STALE" if n["stale"] else ""), n["state"],
         "; ".join(f"{check}: {reason}" for check, reason in n["failures"].items())]
        for n in body["nodes"]
    ]
    text = header + "\n\n" + table(["node", "hostname", "datacenter", "rack", "status", "last seen", "state",
                                    "failing checks"], rows)
    if body.get("next_cursor"):
        text += f"\n(more: --cursor {body['next_cursor']})"
    return text
