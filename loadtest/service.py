"""Starting the service as its users do (`ocrvl serve`), for tests and benchmarks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import yaml

from loadtest.processes import session_processes
from serve.cli import free_port

REPO = Path(__file__).resolve().parents[1]
STARTUP_TIMEOUT_S = 240
# A free port is free when chosen, not always when Ray's proxy binds it (another process may take it in between):
# a server that exits while starting is started once more, on another port.
SERVICE_START_ATTEMPTS = 2


class ServerExited(RuntimeError):
    """The server exited before it answered its health check."""
STOP_TIMEOUT_S = 60
# Ray starts its worker processes (every replica) at this niceness. A server standing in for another machine (the
# VLM server, the reference server) runs at the same, so on a small machine neither side starves the other: at
# nice 0, vLLM-CPU's busy-polling engine held the ingress's event loop off the CPU for seconds (deadlines fired
# late, /health took 7 s), which on a real deployment, where the VLM has its own node, cannot happen.
RAY_WORKER_NICENESS = 15


def merge(base: dict, overrides: dict) -> dict:
    """Deep-merges `overrides` into `base` (in place) and returns it."""
    for key, value in overrides.items():
        base[key] = merge(base.get(key, {}), value) if isinstance(value, dict) else value
    return base


def wait_healthy(health_url: str, process: subprocess.Popen, log: Path) -> None:
    """Polls `health_url` until it answers 200; fails early, with the log's tail, if the process exits."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServerExited(f"{process.args[:3]} exited with {process.returncode}:\n{log.read_text()[-4000:]}")
        try:
            if httpx.get(health_url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise TimeoutError(f"not healthy after {STARTUP_TIMEOUT_S} s:\n{log.read_text()[-4000:]}")


@contextmanager
def running_process(command: list[str], health_url: str, log: Path, niceness: int = 0,
                    cpus: set[int] | None = None, **popen: Any) -> Iterator[subprocess.Popen]:
    """Starts `command` in its own session (output to `log`), waits until `health_url` answers 200, and on exit
    stops it as Kubernetes stops a container: SIGTERM to the process itself, SIGKILL to what is left of its session
    if it has not exited in time. (SIGTERM to the whole group would also stop Ray's own processes under a draining
    `ocrvl serve`, and the drain would hang.) `niceness` is added to the process's own; `cpus` confines it (and
    what it starts) to those CPUs."""

    def confine() -> None:
        os.nice(niceness)
        if cpus is not None:
            os.sched_setaffinity(0, cpus)

    with log.open("w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                   preexec_fn=confine, **popen)
    try:
        wait_healthy(health_url, process, log)
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        _kill_session_leftovers(process.pid)


def _kill_session_leftovers(session: int) -> None:
    """SIGKILLs what is left of the session the command led. Ray's workers and their children (vLLM's engine)
    run in process groups of their own, so a killed server can leave them behind to eat the CPU of what runs
    next."""
    for pid in session_processes(session):
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


@contextmanager
def running_service(
    workdir: Path,
    config: Path = REPO / "configs" / "local.yaml",
    args_overrides: dict[str, Any] | None = None,
    deployment_overrides: dict[str, dict[str, Any]] | None = None,
    metrics_port: int | None = None,
    address: str | None = None,
) -> Iterator[str]:
    """Runs `ocrvl serve` on a free port with a copy of `config` (application args and per-deployment settings
    overridden) and Ray's metrics export on `metrics_port`, or on the Ray cluster at `address`; yields its base URL
    once every stage is ready, and stops it with SIGTERM."""
    raw = yaml.safe_load(config.read_text())
    application = raw["applications"][0]
    # Each server its own private Redis for jobs and the page cache (when it runs them), not the machine's shared
    # default directories.
    merge(application["args"], {"jobs": {"local_redis_dir": str(workdir / "jobs-redis")},
                                "page_cache": {"local_redis_dir": str(workdir / "cache-redis")}})
    merge(application["args"], args_overrides or {})
    for deployment in application.get("deployments", []):
        deployment.update((deployment_overrides or {}).get(deployment["name"], {}))
    config_path = workdir / "config.yaml"
    config_path.write_text(yaml.safe_dump(raw))
    for attempt in range(1, SERVICE_START_ATTEMPTS + 1):
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        command = [sys.executable, "-m", "serve.cli", "serve", "--config", str(config_path), "--port", str(port)]
        if metrics_port is not None:
            command += ["--metrics-port", str(metrics_port)]
        if address is not None:
            command += ["--address", address]
        server = ExitStack()
        try:
            server.enter_context(running_process(command, f"{url}/health/ready", workdir / "serve.log", cwd=REPO,
                                                 env={**os.environ, "PYTHONUNBUFFERED": "1"}))
        except ServerExited:
            if attempt == SERVICE_START_ATTEMPTS:
                raise
            continue
        with server:
            yield url
        return
