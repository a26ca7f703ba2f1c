"""A private redis-server for one machine: what `ocrvl serve` runs the Job API on when the config names no Redis.

It listens only on a Unix socket in its directory (no port to collide with, nothing reachable from the network)
and, when persistent, writes every change to its append-only file before answering (`appendfsync always`), so
a Redis that is killed and started again over the same directory has every job, page and lease it acknowledged.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import threading
import time
from pathlib import Path
from types import TracebackType

import redis

SOCKET_NAME = "redis.sock"
START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 10.0
POLL_INTERVAL_S = 0.05
# How often a kept-running server is looked at.
WATCH_INTERVAL_S = 1.0

logger = logging.getLogger("ocrvl")


class LocalRedisError(RuntimeError):
    """The redis-server could not be found or did not start."""


class LocalRedis:
    def __init__(self, directory: Path, persistent: bool = True, max_memory_mb: int | None = None) -> None:
        self.directory = directory
        self.persistent = persistent
        # Set: a cache, which evicts its least recently used keys at this size rather than refusing writes.
        self.max_memory_mb = max_memory_mb
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def socket(self) -> Path:
        return self.directory / SOCKET_NAME

    @property
    def url(self) -> str:
        return f"unix://{self.socket}?db=0"

    def start(self) -> None:
        """Starts the server (over the data already in the directory) and waits until it answers."""
        binary = shutil.which("redis-server")
        if binary is None:
            raise LocalRedisError("redis-server is not installed (scripts/setup.sh installs it)")
        self.directory.mkdir(parents=True, exist_ok=True)
        persistence = (
            ["--appendonly", "yes", "--appendfsync", "always"] if self.persistent else ["--appendonly", "no"]
        )
        if self.max_memory_mb is not None:
            persistence += ["--maxmemory", f"{self.max_memory_mb}mb", "--maxmemory-policy", "allkeys-lru"]
        self._process = subprocess.Popen(
            [binary, "--port", "0", "--unixsocket", str(self.socket), "--unixsocketperm", "700",
             "--dir", str(self.directory), "--save", "", *persistence],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self._answers():
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise LocalRedisError(f"redis-server did not start in {self.directory}")
            time.sleep(POLL_INTERVAL_S)

    @property
    def pid(self) -> int | None:
        return self._process.pid if self.running() and self._process is not None else None

    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def keep_running(self, stop: threading.Event) -> None:
        """Until `stop` is set, starts the server again whenever it has exited: a Redis that was killed comes back
        with what it had acknowledged, and the jobs it holds go on."""
        while not stop.wait(WATCH_INTERVAL_S):
            if self.running():
                continue
            logger.warning("the private redis-server in %s exited; starting it again", self.directory)
            try:
                self.start()
            except LocalRedisError:
                logger.exception("starting the private redis-server again failed; trying again")

    def stop(self) -> None:
        """SIGTERM: the server flushes its append-only file and exits."""
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None

    def _answers(self) -> bool:
        try:
            with redis.Redis(unix_socket_path=str(self.socket), socket_timeout=1) as client:
                return bool(client.ping())
        except (redis.ConnectionError, redis.TimeoutError):
            return False

    def __enter__(self) -> str:
        self.start()
        return self.url

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()
