"""`make demo` as a newcomer runs it: a real control plane and agent, ending in the capacity table."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


def test_demo_enrolls_this_machine_and_prints_its_capacity(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "suanli.demo"], cwd=tmp_path, stdin=subprocess.DEVNULL,
        capture_output=True, text=True, timeout=300, env={**os.environ},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    demo_rows = [line.split() for line in lines if line.startswith("demo-dc ")]
    assert demo_rows, done.stdout
    assert demo_rows[0][1] == "1"  # one node: this machine
    assert any(line.startswith("control plane: http://127.0.0.1:") for line in lines)
    assert "stopping" in lines[-1]  # not a terminal: it ends by itself
    assert (tmp_path / "demo-data" / "suanli.db").exists()
