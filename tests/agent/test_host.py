"""Tests of the host identity collector: parsers on strings, the collector on fixture trees."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from suanli.agent.collectors.host import (
    HostCollector,
    clean_dmi_value,
    parse_boot_time,
    parse_machine_id,
    parse_os_release,
    read_dmi,
)


def test_machine_id_must_be_32_hex_digits() -> None:
    assert parse_machine_id("3D1219C7C4C5404AAA1F6D2A48ADFDA4\n") == "3d1219c7c4c5404aaa1f6d2a48adfda4"
    assert parse_machine_id("uninitialized\n") is None
    assert parse_machine_id("") is None
    assert parse_machine_id(None) is None


@pytest.mark.parametrize("placeholder", [
    "To be filled by O.E.M.", "Default string", "Not Specified", "0123456789", "",
    "00000000-0000-0000-0000-000000000000", "FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF", "  None ",
])
def test_dmi_placeholders_are_not_identities(placeholder: str) -> None:
    assert clean_dmi_value(placeholder) is None


def test_real_dmi_values_are_kept() -> None:
    assert clean_dmi_value("9Z5NB93\n") == "9Z5NB93"
    assert clean_dmi_value("PowerEdge R760") == "PowerEdge R760"


def test_os_release_prefers_pretty_name_and_unquotes() -> None:
    assert parse_os_release('NAME="Ubuntu"\nPRETTY_NAME="Ubuntu 22.04.3 LTS"\n') == "Ubuntu 22.04.3 LTS"
    assert parse_os_release("# comment\nNAME=Alpine\nVERSION='3.19 (edge)'\n") == "Alpine 3.19 (edge)"
    assert parse_os_release("ID=x\n") is None
    assert parse_os_release('PRETTY_NAME="Distro \\"Quoted\\" 1"\n') == 'Distro "Quoted" 1'


def test_boot_time_from_btime() -> None:
    assert parse_boot_time("cpu  1 2 3\nbtime 1795000000\n") == datetime.fromtimestamp(1795000000, tz=timezone.utc)
    assert parse_boot_time("cpu  1 2 3\n") is None


def test_two_socket_server_identity(host_context) -> None:
    host = HostCollector().inventory(host_context("two-socket"))["host"]
    assert host["hostname"] == "gpu-a01.dc1.example.cn"
    assert host["machine_id"] == "4f1c2d3e4a5b6c7d8e9f0a1b2c3d4e5f"
    assert host["dmi_product_uuid"] == "4c4c4544-0042-3510-8052-b4c04f4e3933"  # lower-cased
    assert host["dmi_product_serial"] == "9Z5NB93"
    assert host["dmi_sys_vendor"] == "Dell Inc."
    assert host["os_name"] == "Rocky Linux 9.3 (Blue Onyx)"
    assert host["kernel_release"] == "5.14.0-362.8.1.el9_3.x86_64"
    assert host["architecture"] == "x86_64"
    assert host["boot_time"] == datetime.fromtimestamp(1795000000, tz=timezone.utc)


def test_placeholder_dmi_reads_as_null(host_context) -> None:
    host = HostCollector().inventory(host_context("nvme-nfs"))["host"]
    assert host["dmi_product_uuid"] is None and host["dmi_product_serial"] is None
    assert host["dmi_product_name"] == "TaiShan 200 (Model 2280)"
    assert host["architecture"] == "aarch64"


def test_captured_vm_without_dmi(host_context) -> None:
    host = HostCollector().inventory(host_context("captured-vm"))["host"]
    assert host["hostname"] == "vm"
    assert host["os_name"] == "Debian GNU/Linux 12 (bookworm)"
    assert all(host[key] is None for key in ("dmi_product_uuid", "dmi_product_serial", "dmi_product_name"))


def test_root_only_dmi_files_read_as_null(tmp_path: Path) -> None:
    dmi = tmp_path / "class" / "dmi" / "id"
    dmi.mkdir(parents=True)
    (dmi / "product_name").write_text("R760\n")
    (dmi / "product_serial").mkdir()  # unreadable the way a root-only file is to the agent user
    fields = read_dmi(tmp_path)
    assert fields["dmi_product_name"] == "R760"
    assert fields["dmi_product_serial"] is None and fields["dmi_product_uuid"] is None
