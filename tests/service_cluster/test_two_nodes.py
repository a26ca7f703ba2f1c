"""The service across two Ray nodes: each stage runs where its resources say, and the worker node dying under load
costs answers, never a hang; readiness says why the recognition stage cannot come back until a node with its
resource rejoins, and then capacity is restored."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from ray.serve._private.deployment_state import SLOW_STARTUP_WARNING_S

from loadtest.processes import command_lines, session_of
from loadtest.recovery import READINESS_TIMEOUT_S, readiness
from tests.ray_cluster import WORKER_RESOURCE
from tests.service.conftest import b64, inked_pdf, poll, wait_for
from tests.service_cluster.conftest import DEADLINE_S

pytestmark = pytest.mark.service

PAYLOAD = {"file": b64(inked_pdf(2)), "fileType": 0, "visualize": False}
CLIENTS = 2
# Ray's GCS declares a node dead after its missed health checks; Serve then notices its replicas are gone.
NODE_LOSS_NOTICED_S = 90
# Ray Serve says why a replica is not placed once it has waited this long (RAY_SERVE_SLOW_STARTUP_WARNING_S).
UNPLACED_S = SLOW_STARTUP_WARNING_S + 15
WHY_NOT_PLACED = ("its node has died", WORKER_RESOURCE)
# A rejoined node registers, and the replica loads its models there.
REJOIN_READY_S = 180


def nodes_of(deployment: str, cluster) -> list[str]:
    """The node (head or worker) of each replica of `deployment`, by the session its process inherited from the
    node's `ray start`."""
    names = {cluster.head: "head", **{session: "worker" for session in cluster.workers}}
    title = f"ray::ServeReplica:ocrvl:{deployment}"
    return sorted(names[session] for pid, line in command_lines().items()
                  if title in " ".join(line) and (session := session_of(pid)) in names)


def test_each_stage_runs_on_the_node_its_resources_name(app_url, cluster):
    assert nodes_of("Ingress", cluster) == ["head"]
    assert nodes_of("LayoutStage", cluster) == ["head"]
    assert nodes_of("RecognitionStage", cluster) == ["worker"]
    r = httpx.post(f"{app_url}/layout-parsing", json=PAYLOAD, timeout=DEADLINE_S)
    assert r.status_code == 200 and len(r.json()["result"]["layoutParsingResults"]) == 2


def test_a_killed_worker_node_costs_answers_not_hangs_and_its_return_restores_capacity(app_url, cluster):
    answers: list[tuple[float, httpx.Response]] = []
    stop = threading.Event()

    def keep_posting() -> None:
        with httpx.Client(base_url=app_url, timeout=DEADLINE_S + 60) as client:
            while not stop.is_set():
                sent = time.monotonic()
                answer = client.post("/layout-parsing", json=PAYLOAD)
                answers.append((time.monotonic() - sent, answer))

    with httpx.Client(base_url=app_url) as client, ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        posters = [pool.submit(keep_posting) for _ in range(CLIENTS)]
        wait_for(lambda: len(answers) >= CLIENTS, DEADLINE_S)
        [worker] = cluster.workers
        cluster.kill_worker(worker)
        # No node has the recognition stage's resource now: readiness fails and says why, as Ray Serve tells it:
        # the replica's node died, or (once its replacement has waited a while) the resources it waits for.
        down = poll(lambda: client.get("/health/ready", timeout=READINESS_TIMEOUT_S),
                    lambda answer: any(why in answer.json()["errorMsg"] for why in WHY_NOT_PLACED),
                    NODE_LOSS_NOTICED_S + UNPLACED_S)
        cluster.start_worker()
        wait_for(lambda: readiness(client).status == 200, REJOIN_READY_S)
        stop.set()
        for poster in posters:
            poster.result()
        after = client.post("/layout-parsing", json=PAYLOAD, timeout=DEADLINE_S)

    assert down.status_code == 503
    assert down.json()["errorMsg"].startswith("Not ready: RecognitionStage has no running replica")
    for took_s, answer in answers:
        assert answer.status_code in (200, 503), answer.text[:300]
        if answer.status_code == 503:
            assert answer.headers["Retry-After"] and answer.json()["errorCode"] == 503
        assert took_s <= DEADLINE_S + 30
    assert after.status_code == 200
    assert nodes_of("RecognitionStage", cluster) == ["worker"]
