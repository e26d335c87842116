"""Real executables standing in for vendor tools (npu-smi, hy-smi, cnmon): shell scripts written into a test's directory."""

from __future__ import annotations

import shlex
import stat
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "vendors"


def _write_script(directory: Path, name: str, body: str) -> Path:
    path = directory / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def install_tool(directory: Path, name: str, responses: dict[str, tuple[str | Path, int]]) -> Path:
    """A tool answering each exact argument string with a file's text and an exit code; anything else fails.

    `responses` maps e.g. "info -t board -i 0" to (path of the text to print, exit code).
    """
    cases = []
    for args, (source, code) in responses.items():
        cases.append(f'  {shlex.quote(args)}) cat {shlex.quote(str(source))}; exit {code} ;;')
    body = 'case "$*" in\n' + "\n".join(cases) + '\n  *) echo "unsupported arguments: $*" >&2; exit 2 ;;\nesac\n'
    return _write_script(directory, name, body)


def install_hanging_tool(directory: Path, name: str, pid_file: Path, seconds: int = 60) -> Path:
    """A tool that sleeps far past any timeout, with a child sleeping too; `pid_file` gets both process ids."""
    pids = shlex.quote(str(pid_file))
    body = f'echo $$ > {pids}\nsleep {seconds} &\necho $! >> {pids}\nsleep {seconds}\n'
    return _write_script(directory, name, body)


def text_file(directory: Path, name: str, text: str) -> Path:
    """A response file written for one test (e.g. a fixture with per-device serials substituted)."""
    path = directory / name
    path.write_text(text)
    return path


def install_npu_smi(directory: Path, overview: str, npu_ids: range = range(8), code: int = 0) -> Path:
    """npu-smi answering `info` with an Ascend fixture and board/chip queries with per-NPU serials and die ids."""
    ascend = FIXTURES / "ascend"
    responses: dict[str, tuple[str | Path, int]] = {"info": (ascend / overview, code)}
    board_text = (ascend / "npu-smi-board-i0.txt").read_text()
    chip_text = (ascend / "npu-smi-board-i0-c0.txt").read_text()
    for npu in npu_ids:
        board = board_text.replace(": 0\n", f": {npu}\n", 1).replace("102369874512", f"1023698745{npu:02d}")
        chip = chip_text.replace("0D3C2B4A", f"0D3C2B{npu:02X}")
        responses[f"info -t board -i {npu}"] = (text_file(directory, f"board-{npu}.txt", board), 0)
        responses[f"info -t board -i {npu} -c 0"] = (text_file(directory, f"chip-{npu}.txt", chip), 0)
    return install_tool(directory, "npu-smi", responses)
