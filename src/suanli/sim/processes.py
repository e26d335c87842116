"""Real control-plane processes for scale runs and integration tests: `suanli serve` and admin commands."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

# The control plane's own CLI in this interpreter, so nothing depends on `suanli` being on PATH.
SUANLI_CLI = "import sys; from suanli.controlplane.cli import main; sys.exit(main())"


def suanli_command(*args: str) -> list[str]:
    return [sys.executable, "-c", SUANLI_CLI, *args]


def admin(*args: str, env: dict[str, str] | None = None, timeout_s: float = 120.0) -> str:
    """Run a `suanli` admin command and return the last line it printed (the secret, by convention)."""
    done = subprocess.run(suanli_command(*args), capture_output=True, text=True, timeout=timeout_s,
                          env={**os.environ, **(env or {})})
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"suanli {' '.join(args[:2])} failed ({done.returncode}): "
                           f"{(done.stderr or done.stdout).strip()[-800:]}")
    return lines[-1].strip()


def rss_bytes(pid: int) -> int:
    """Resident memory of a process now (from /proc; 0 where that is unavailable)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU a process has used so far (from /proc; 0.0 where unavailable)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # fields[11] and [12] are utime and stime (the 14th and 15th of the whole line), in clock ticks.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class ServeProcess:
    """`suanli serve --database URL --listen 127.0.0.1:PORT` as a child process, stopped with SIGTERM."""

    def __init__(self, database_url: str, port: int, data_dir: Path, log_path: Path,
                 env: dict[str, str] | None = None) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self._log = log_path.open("ab")
        self.process = subprocess.Popen(
            suanli_command("serve", "--database", database_url, "--listen", f"127.0.0.1:{port}"),
            stdout=self._log, stderr=subprocess.STDOUT,
            env={**os.environ, "SUANLI_DATA_DIR": str(data_dir), **(env or {})},
        )
        self.log_path = log_path

    def wait_ready(self, timeout_s: float = 60.0) -> None:
        """Until `GET /healthz` answers 200; fails early with the log if the process exits."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"suanli serve exited {self.process.returncode}: {self.log_tail()}")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)
        raise RuntimeError(f"suanli serve not ready after {timeout_s} s: {self.log_tail()}")

    def rss_bytes(self) -> int:
        return rss_bytes(self.process.pid)

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.process.pid)

    def log_tail(self, lines: int = 30) -> str:
        if not self._log.closed:
            self._log.flush()
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self, timeout_s: float = 20.0) -> int | None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
        return self.process.returncode
