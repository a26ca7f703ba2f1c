"""The service's processes as the benchmarks read them: one stable name per process, whatever it runs, and the CPU
time each has used."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from loadtest.processes import cpu_seconds, process_name
from loadtest.soak import MIB, second_half


@pytest.mark.parametrize(
    ("command_line", "name"),
    [
        (["ray::ServeReplica:ocrvl:Ingress.handle_request_with_rejection", "", ""], "ray::ServeReplica:ocrvl:Ingress"),
        (["ray::ServeReplica:ocrvl:Ingress", "", ""], "ray::ServeReplica:ocrvl:Ingress"),
        (["ray::ProxyActor.receive_asgi_messages"], "ray::ProxyActor"),
        (["VLLM::EngineCore", ""], "VLLM::EngineCore"),
        (["/venv/bin/python", "-m", "serve.cli", "serve", "--config", "c.yaml"], "python -m serve.cli"),
        (["/ray/core/src/ray/raylet/raylet", "--raylet_socket_name=/tmp/x"], "raylet"),
    ],
)
def test_a_process_keeps_one_name_whatever_method_it_runs(command_line, name):
    assert process_name(command_line) == name


@pytest.mark.parametrize(
    ("command_line", "kernel", "name"),
    [
        (["/venv/bin/python", "-c", "from multiprocessing.spawn import spawn_main", "--multiprocessing-fork"],
         "VLLM::EngineCor", "VLLM::EngineCore"),
        (["/venv/bin/python", "-c", "from multiprocessing.spawn import spawn_main"], "VLLM::Worker", "VLLM::Worker"),
        (["/venv/bin/python", "-c", "pass"], "python", "python"),
        ([], "VLLM::EngineCor", "VLLM::EngineCore"),
    ],
)
def test_a_vllm_process_titled_only_in_the_kernel_keeps_its_full_title(command_line, kernel, name):
    assert process_name(command_line, kernel) == name


def test_the_second_half_starts_at_half_the_run():
    samples = [(t * 60.0, MIB) for t in range(11)]
    assert [t for t, _ in second_half(samples)] == [300.0, 360.0, 420.0, 480.0, 540.0, 600.0]


def test_cpu_seconds_grow_with_work_and_are_none_once_the_process_is_gone():
    before = cpu_seconds(os.getpid())
    deadline = time.process_time() + 0.2
    while time.process_time() < deadline:
        pass
    assert cpu_seconds(os.getpid()) >= before + 0.1
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    assert cpu_seconds(gone.pid) is None
