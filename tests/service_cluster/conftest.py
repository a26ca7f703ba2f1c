"""One app for the package, on a Ray cluster of two nodes (tests/ray_cluster.py) that `ocrvl serve --address`
joins: the ingress and the layout stage on the head node, the recognition stage on the worker node, placed by the
nodes' custom resources as KubeRay worker groups place them (deploy/README.md). The embedded stack, then the VL
stack, on the same cluster."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from loadtest.service import REPO, running_service
from tests.ray_cluster import ENV, HEAD_RESOURCE, WORKER_RESOURCE, RayCluster, ray_cluster
from tests.service_vl.conftest import VL_CONFIG, tiny_vl_model

# A replica asks for a sliver of its node's resource: where it runs, not how many fit.
ON_HEAD = {"resources": {HEAD_RESOURCE: 0.01}}
ON_WORKER = {"resources": {WORKER_RESOURCE: 0.01}}
PLACEMENT = {
    "Ingress": {"ray_actor_options": {"num_cpus": 0, **ON_HEAD}},
    "LayoutStage": {"ray_actor_options": {"num_cpus": 0.5, **ON_HEAD}},
    "RecognitionStage": {"num_replicas": 1, "ray_actor_options": {"num_cpus": 0.5, **ON_WORKER}},
}
# Short enough that a request stuck behind a lost node would show, long enough for a node to come back.
DEADLINE_S = 120
# Jobs need a Redis of their own on a cluster, and nothing here runs them.
ARGS = {"jobs": {"enabled": False}, "deadline": {"default_s": DEADLINE_S}}
# The embedded stack, and the VL stack: there the lost node takes a vLLM engine with it and the rejoined one starts
# another.
CONFIGS = {"embedded": REPO / "configs" / "local.yaml", "vl": VL_CONFIG}


@pytest.fixture(scope="package")
def cluster() -> Iterator[RayCluster]:
    with ray_cluster() as running:
        yield running


@pytest.fixture(scope="package", params=list(CONFIGS))
def app_url(request: pytest.FixtureRequest, cluster: RayCluster,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if request.param == "vl":
        tiny_vl_model()
    with pytest.MonkeyPatch.context() as env:
        env.setenv("RAY_AUTH_MODE", ENV["RAY_AUTH_MODE"])
        with running_service(tmp_path_factory.mktemp("service-cluster"), CONFIGS[request.param], args_overrides=ARGS,
                             deployment_overrides=PLACEMENT, address=cluster.address) as url:
            yield url
