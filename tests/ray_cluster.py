"""A Ray cluster of two nodes on this machine, made as `ray start` makes one across machines: a head node and a worker
node, each its own set of processes (raylet, agents, the workers it starts) with its own CPUs and a custom resource
that names it, so deployments are placed on one or the other by resources. The worker node can be killed as a
machine dies (every one of its processes at once) and started again."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from loadtest.processes import session_processes
from serve.cli import free_port, haproxy_front_env

RAY = Path(sys.executable).with_name("ray")
HEAD_RESOURCE = "ocrvl_head"
WORKER_RESOURCE = "ocrvl_worker"
NODE_CPUS = 1
OBJECT_STORE_BYTES = 200 * 1024 * 1024
# Token auth guards real clusters; this one listens on loopback only.
ENV = {**os.environ, "RAY_AUTH_MODE": "disabled"}
START_TIMEOUT_S = 120


@dataclass
class RayCluster:
    address: str
    temp_dir: Path
    # Each running node's session: `ray start` leads it, and every process of the node inherits it.
    head: int = 0
    workers: list[int] = field(default_factory=list)

    def start_worker(self) -> int:
        """Starts a worker node (one CPU, `WORKER_RESOURCE`) joined to the head; returns its session."""
        session = _ray_start(["--address", self.address], WORKER_RESOURCE, self.temp_dir)
        self.workers.append(session)
        return session

    def kill_worker(self, session: int) -> None:
        """SIGKILLs every process of the worker node `session`: its raylet and all it started, at once."""
        _kill_session(session)
        self.workers.remove(session)


def _ray_start(args: list[str], resource: str, temp_dir: Path) -> int:
    # Two nodes on one host: every port a node listens on must be its own.
    ports = {flag: str(free_port()) for flag in ("--node-manager-port", "--object-manager-port",
                                                 "--metrics-export-port", "--dashboard-agent-listen-port",
                                                 "--dashboard-agent-grpc-port", "--runtime-env-agent-port")}
    command = [str(RAY), "start", *args, "--node-ip-address", "127.0.0.1", "--num-cpus", str(NODE_CPUS),
               "--num-gpus", "0", "--resources", json.dumps({resource: 1}),
               "--object-store-memory", str(OBJECT_STORE_BYTES), "--temp-dir", str(temp_dir),
               "--disable-usage-stats", *(part for item in ports.items() for part in item)]
    # Output to a file, not a pipe: the node's daemons would inherit the pipe and hold it open.
    log = temp_dir / f"ray-start-{resource}-{ports['--node-manager-port']}.log"
    with log.open("w") as out:
        # Serve's HAProxy front as the manifests set it, with this node's own ports.
        env = {**ENV, **haproxy_front_env()}
        starter = subprocess.Popen(command, env=env, start_new_session=True, stdout=out, stderr=subprocess.STDOUT)
    if starter.wait(timeout=START_TIMEOUT_S) != 0:
        _kill_session(starter.pid)
        raise RuntimeError(f"ray start failed ({starter.returncode}):\n{log.read_text()[-4000:]}")
    return starter.pid


def _kill_session(session: int) -> None:
    for pid in session_processes(session):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@contextmanager
def ray_cluster() -> Iterator[RayCluster]:
    """A head node (one CPU, `HEAD_RESOURCE`, dashboard off) and one worker node; every process of both is killed
    on exit. Ray's socket paths must stay short, so its files go to a fresh directory directly under /tmp."""
    with tempfile.TemporaryDirectory(prefix="ray-", dir="/tmp", ignore_cleanup_errors=True) as temp_dir:
        port = free_port()
        cluster = RayCluster(f"127.0.0.1:{port}", Path(temp_dir))
        head_args = ["--head", "--port", str(port), "--ray-client-server-port", str(free_port()),
                     "--include-dashboard", "false"]
        cluster.head = _ray_start(head_args, HEAD_RESOURCE, cluster.temp_dir)
        try:
            cluster.start_worker()
            yield cluster
        finally:
            for session in [*cluster.workers, cluster.head]:
                _kill_session(session)
