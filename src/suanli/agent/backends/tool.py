"""Running a vendor tool (npu-smi, hy-smi, cnmon): found on a search path, killed with its children on timeout."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from suanli.agent.backends.base import BackendUnavailable

# Where vendor installers put their tools when they are not on the service's PATH.
VENDOR_TOOL_DIRS = (
    "/usr/local/sbin",
    "/usr/local/bin",
    "/usr/local/Ascend/driver/tools",
    "/opt/hyhal/bin",
    "/opt/dtk/bin",
    "/opt/rocm/bin",
    "/usr/local/neuware/bin",
)
MAX_OUTPUT_CHARS = 4_000_000  # a runaway tool must not make the agent hold gigabytes
# Looking a tool up stats every search directory; the answer is kept this long, so a usage cycle
# costs no lookups while a driver installed later is still noticed within minutes.
LOOKUP_TTL_S = 300.0


class ToolFailed(BackendUnavailable):
    """The tool ran but exited non-zero; `reason` carries its first line of complaint."""


def default_search_path() -> str:
    """The service's PATH followed by the vendors' usual install directories."""
    return os.pathsep.join([os.environ.get("PATH", os.defpath), *VENDOR_TOOL_DIRS])


@dataclass
class ToolRunner:
    """Runs one vendor tool with a timeout; missing, hung and failing tools become BackendUnavailable."""

    search_path: str = field(default_factory=default_search_path)
    timeout_s: float = 3.0
    _lookups: dict[tuple[str, ...], tuple[float, str | None]] = field(default_factory=dict, repr=False)

    def find(self, names: Sequence[str]) -> str | None:
        """The first of `names` found on the search path, as a full path (remembered for LOOKUP_TTL_S)."""
        key = tuple(names)
        cached = self._lookups.get(key)
        if cached is not None and time.monotonic() - cached[0] < LOOKUP_TTL_S:
            return cached[1]
        found = next((path for name in names if (path := shutil.which(name, path=self.search_path))), None)
        self._lookups[key] = (time.monotonic(), found)
        return found

    def run(self, executable: str, args: Sequence[str]) -> str:
        """The tool's standard output; raises BackendUnavailable when it hangs or fails."""
        name = os.path.basename(executable)
        try:
            # A new session, so a timeout kills the tool and anything it started, not just the shell.
            process = subprocess.Popen(
                [executable, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                text=True, errors="replace", start_new_session=True,
            )
        except OSError as exc:
            raise BackendUnavailable(f"{name} could not be started: {exc}") from exc
        try:
            stdout, stderr = process.communicate(timeout=self.timeout_s)
        except subprocess.TimeoutExpired:
            _kill_group(process)
            raise BackendUnavailable(f"{name} {' '.join(args)} timed out after {self.timeout_s:g} s; killed") from None
        if process.returncode != 0:
            raise ToolFailed(f"{name} {' '.join(args)} exited {process.returncode}: {_first_line(stderr, stdout)}")
        return stdout[:MAX_OUTPUT_CHARS]


def _kill_group(process: subprocess.Popen[str]) -> None:
    """SIGKILL the tool's whole process group and reap it, so no zombie or orphan is left."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        process.communicate(timeout=1.0)
    except subprocess.TimeoutExpired:
        pass  # a grandchild that left the group still holds the pipes; the tool itself is dead


def _first_line(*texts: str) -> str:
    for text in texts:
        for line in text.splitlines():
            if line.strip():
                return line.strip()[:300]
    return "no output"
