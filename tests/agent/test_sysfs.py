"""Tests of the tolerant /proc and /sys readers."""

from __future__ import annotations

from pathlib import Path

from suanli.agent.sysfs import list_dir, read_int, read_line, read_text


def test_missing_and_unreadable_files_read_as_none(tmp_path: Path) -> None:
    (tmp_path / "a_directory").mkdir()  # reading a directory fails like a root-only file does
    assert read_text(tmp_path / "absent") is None
    assert read_text(tmp_path / "a_directory") is None
    assert read_int(tmp_path / "absent") is None


def test_values_are_parsed(tmp_path: Path) -> None:
    (tmp_path / "speed").write_text("-1\n")
    (tmp_path / "vendor").write_text("0x1af4\n")
    (tmp_path / "word").write_text("  up \nsecond line\n")
    (tmp_path / "empty").write_text("\n")
    assert read_int(tmp_path / "speed") == -1
    assert read_int(tmp_path / "vendor") == 0x1AF4
    assert read_int(tmp_path / "word") is None
    assert read_line(tmp_path / "word") == "up"
    assert read_line(tmp_path / "empty") is None


def test_list_dir_is_sorted_and_tolerant(tmp_path: Path) -> None:
    for name in ("b", "a", "c"):
        (tmp_path / name).write_text("")
    assert list_dir(tmp_path) == ["a", "b", "c"]
    assert list_dir(tmp_path / "absent") == []
