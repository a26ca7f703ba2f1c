"""The service's processes, read from /proc: which belong to one `ocrvl serve` (Ray's workers, replicas and the
engines they start all stay in its session), what each is, and how much memory it holds."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
KERNEL_NAME_BYTES = 15
# The titles vLLM gives its processes (vllm.utils.system_utils.set_process_title) with a single engine.
VLLM_TITLES = ("VLLM::EngineCore", "VLLM::Worker")


def command_lines() -> dict[int, list[str]]:
    """Every process's command line, split into its arguments."""
    lines = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                lines[int(entry)] = Path(f"/proc/{entry}/cmdline").read_bytes().decode(errors="replace").split("\0")
            except OSError:  # gone since it was listed
                pass
    return lines


def server_pid(url: str) -> int:
    """The `ocrvl serve` process answering on `url` (started with --port, as loadtest.service does). It leads
    the session of every process it starts."""
    port = str(urlsplit(url).port)
    return next(pid for pid, line in command_lines().items()
                if "serve.cli" in line and "--port" in line[:-1] and line[line.index("--port") + 1] == port)


def session_of(pid: int) -> int | None:
    try:
        return os.getsid(pid)
    except ProcessLookupError:
        return None


def session_processes(session: int) -> dict[int, str]:
    """The live processes of `session`, each with a short name: a Ray worker's title (`ray::ServeReplica:...`),
    a renamed engine process (`VLLM::EngineCore`), otherwise its program and module."""
    processes = {}
    for pid, line in command_lines().items():
        if session_of(pid) == session and line and line[0]:
            processes[pid] = process_name(line, kernel_name(pid))
    return processes


def kernel_name(pid: int) -> str:
    """The name the kernel keeps for `pid` (/proc/PID/comm, at most 15 bytes); "" once it has exited."""
    try:
        return Path(f"/proc/{pid}/comm").read_text().rstrip("\n")
    except OSError:
        return ""


def process_name(line: list[str], kernel: str = "") -> str:
    """The name of the process running `line`, whose kernel name is `kernel`."""
    title = " ".join(part for part in line if part).strip()
    if title.startswith(("ray::", "VLLM::")):
        # Ray appends the method a worker is running (`ray::ProxyActor.receive_asgi_messages`); the name must not
        # change with it.
        return title.split()[0].split(".")[0]
    if kernel.startswith("VLLM::"):
        # Where setproctitle cannot rewrite a process's command line it may still set the kernel's name, cut to
        # 15 bytes (`VLLM::EngineCor`); CI has shown vLLM's spawned engine with an untitled command line.
        return next((t for t in VLLM_TITLES if t[:KERNEL_NAME_BYTES] == kernel), kernel)
    if not line or not line[0]:  # a zombie's command line is empty
        return kernel
    program = Path(line[0]).name
    if "-m" in line[:-1]:
        return f"{program} -m {line[line.index('-m') + 1]}"
    return program


def rss_bytes(pid: int) -> int | None:
    """Resident memory of `pid`; None once it has exited."""
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_BYTES
    except (OSError, IndexError, ValueError):
        return None


def cpu_seconds(pid: int) -> float | None:
    """CPU time `pid` has used so far, user and system; None once it has exited."""
    try:
        # The command name in parentheses may hold spaces: the fields are counted after its closing one.
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    # utime and stime, the 14th and 15th fields of proc(5): the 12th and 13th after the name.
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
