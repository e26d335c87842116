"""A private PostgreSQL server for one test, so it can be stopped and restarted without touching the shared one."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any


def postgres_bin() -> Path | None:
    """The newest installed server binaries (Debian layout), or None."""
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parts[-3]))
    return candidates[-1].parent if candidates else None


def _run_as() -> dict[str, Any]:
    """initdb refuses root: as root the server runs as the `postgres` system user."""
    if os.geteuid() != 0:
        return {}
    entry = pwd.getpwnam("postgres")  # KeyError when absent: the caller skips
    return {"user": entry.pw_uid, "group": entry.pw_gid}


class PrivatePostgres:
    """initdb + pg_ctl on a free port in a fresh directory; `restart` is a real stop and start."""

    def __init__(self, port: int) -> None:
        bin_dir = postgres_bin()
        if bin_dir is None:
            raise FileNotFoundError("PostgreSQL server binaries not found under /usr/lib/postgresql")
        self.bin, self.port, self._as = bin_dir, port, _run_as()
        self.root = Path(tempfile.mkdtemp(prefix="suanli-pg-"))
        if self._as:
            os.chown(self.root, self._as["user"], self._as["group"])
        self.data = self.root / "data"
        self._pg(["initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"])

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _pg(self, command: list[str]) -> None:
        done = subprocess.run([str(self.bin / command[0]), *command[1:]], capture_output=True, text=True,
                              timeout=120, cwd=self.root, **self._as)
        if done.returncode != 0:
            raise RuntimeError(f"{command[0]} failed: {done.stdout[-500:]} {done.stderr[-500:]}")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._pg(["pg_ctl", "-D", str(self.data), "-l", str(self.root / "server.log"), "-o", options, "-w", "start"])

    def stop(self, mode: str = "fast") -> None:
        self._pg(["pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop"])

    def destroy(self) -> None:
        try:
            self.stop("immediate")
        except RuntimeError:
            pass  # already stopped
        shutil.rmtree(self.root, ignore_errors=True)
