"""`make demo`: run a control plane on SQLite, enroll this machine's agent, show its capacity."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

DEMO_DIR = Path("demo-data")
DATACENTER = "demo-dc"
PROVINCE = "CN-SD"
RACK = "demo-rack-1"
SUANLI = "import sys; from suanli.controlplane.cli import main; sys.exit(main())"
AGENT = "import sys; from suanli.agent.cli import main; sys.exit(main())"
AGENT_ENV = {"SUANLI_AGENT_USAGE_INTERVAL_S": "1", "SUANLI_AGENT_DELIVERY_INTERVAL_S": "0.2"}
WAIT_S = 60.0


class DemoError(RuntimeError):
    """A step of the demo failed; the message says which and why."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _command(code: str, *args: str, env: dict[str, str] | None = None) -> str:
    """Run `suanli`/`suanli-agent` in this interpreter; its output, or DemoError with its stderr."""
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})
    if done.returncode != 0:
        raise DemoError(f"{args[0]} {args[1] if len(args) > 1 else ''} failed: {(done.stderr or done.stdout)[-1500:]}")
    return done.stdout


def _get(url: str, key: str | None = None) -> dict:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=5) as response:
        return json.loads(response.read())


def _wait(check, what: str, process: subprocess.Popen) -> None:  # noqa: ANN001
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise DemoError(f"{what}: the process exited with {process.returncode}")
        try:
            if check():
                return
        except (urllib.error.URLError, OSError, KeyError, ValueError):
            pass
        time.sleep(0.3)
    raise DemoError(f"timed out after {WAIT_S:.0f} s waiting for {what}")


def _stop(process: subprocess.Popen | None) -> None:
    if process is not None and process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()


def _start_server(database_url: str, port: int) -> subprocess.Popen:
    log = (DEMO_DIR / "serve.log").open("ab")
    server = subprocess.Popen(
        [sys.executable, "-c", SUANLI, "serve", "--database", database_url, "--listen", f"127.0.0.1:{port}"],
        stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "SUANLI_DATA_DIR": str(DEMO_DIR)},
    )
    _wait(lambda: _get(f"http://127.0.0.1:{port}/readyz")["status"] == "ready", "the control plane", server)
    return server


def _register_rack(database_url: str) -> None:
    """The demo rack in the rack registry (10 kW rated: 4 standard racks of 2.5 kW)."""
    csv_path = DEMO_DIR / "racks.csv"
    csv_path.write_text("datacenter,name,rated_kw,height_u,room,province\n"
                        f"{DATACENTER},{RACK},10,42,,{PROVINCE}\n")
    _command(SUANLI, "racks", "import", str(csv_path), "--database", database_url)


def _enroll_and_report(server_url: str, token: str, key: str) -> subprocess.Popen:
    """The real agent: enroll, then run until the server holds its usage (left running for the caller)."""
    (DEMO_DIR / "agent.toml").write_text(f'[location]\ndatacenter = "{DATACENTER}"\nrack = "{RACK}"\n')
    state = ["--config", str(DEMO_DIR / "agent.toml"), "--state-dir", str(DEMO_DIR / "agent")]
    print(_command(AGENT, "enroll", "--server", server_url, "--token", token, *state, env=AGENT_ENV).strip())
    agent = subprocess.Popen([sys.executable, "-c", AGENT, "run", *state], env={**os.environ, **AGENT_ENV},
                             stdout=subprocess.DEVNULL, stderr=(DEMO_DIR / "agent.log").open("ab"))
    node_id = _get(f"{server_url}/v1/nodes", key)["nodes"][0]["node_id"]
    _wait(lambda: _get(f"{server_url}/v1/nodes/{node_id}", key)["latest_usage"] is not None, "the agent's reports", agent)
    return agent


def _show(server_url: str, key: str) -> None:
    print("\nThis machine as suanli counts it (live capacity by data center):\n")
    print(_command(SUANLI, "capacity", "--server", server_url, "--key", key, "--by", "datacenter"))
    print(_command(SUANLI, "nodes", "--server", server_url, "--key", key))
    print(f"control plane: {server_url}   dashboard: {server_url}/ (log in with the operator key below)")
    print(f"  curl -H 'Authorization: Bearer {key}' {server_url}/v1/capacity")


def run_demo() -> None:
    shutil.rmtree(DEMO_DIR, ignore_errors=True)  # a fresh start: the demo enrolls this machine once
    DEMO_DIR.mkdir(parents=True)
    database_url = f"sqlite:///{(DEMO_DIR / 'suanli.db').resolve()}"
    port = _free_port()
    server_url = f"http://127.0.0.1:{port}"
    server = agent = None
    try:
        server = _start_server(database_url, port)
        token = _command(SUANLI, "token", "create", "--database", database_url, "--datacenter", DATACENTER,
                         "--province", PROVINCE).strip().splitlines()[-1]
        key = _command(SUANLI, "key", "create", "--database", database_url, "--role", "operator",
                       "--name", "demo").strip().splitlines()[-1]
        _register_rack(database_url)
        agent = _enroll_and_report(server_url, token, key)
        _show(server_url, key)
        if sys.stdin.isatty():
            print("serving until Ctrl-C (the agent keeps reporting) ...")
            server.wait()
        else:  # run by a script or CI: stop rather than hold the terminal
            print(f"not a terminal: stopping; the database stays in {DEMO_DIR}/ (run `make demo` in a "
                  "terminal to keep the control plane and dashboard up)")
    except KeyboardInterrupt:
        pass
    finally:
        _stop(agent)
        _stop(server)


def main() -> int:
    try:
        run_demo()
    except DemoError as exc:
        print(f"demo failed: {exc}\n(logs under {DEMO_DIR}/)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
