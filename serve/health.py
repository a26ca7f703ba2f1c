"""Readiness: is every stage of this application able to take work right now?

Ray Serve's controller already knows: a replica is RUNNING only once its constructor finished (models loaded)
and while its periodic `check_health` passes (the recognition stage's pings an external VLM server, if one is
configured). Asking the controller, rather than sending each stage a probe, keeps readiness independent of
load: a probe would queue behind pages and make a busy service look dead.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ray.serve.schema import DeploymentStatusOverview, ReplicaState

STAGES = ("LayoutStage", "RecognitionStage")


def readiness_problems(deployments: Mapping[str, DeploymentStatusOverview], names: Sequence[str]) -> list[str]:
    """One line per deployment of `names` that has no running replica; empty when all can take work."""
    problems = []
    for name in names:
        status = deployments.get(name)
        if status is None:
            problems.append(f"{name} is not deployed")
            continue
        if status.replica_states.get(ReplicaState.RUNNING, 0) == 0:
            # The controller's states come as plain strings or as enum members, depending on the path.
            states = ", ".join(f"{ReplicaState(s).value}: {n}" for s, n in status.replica_states.items()) or "none"
            problems.append(f"{name} has no running replica ({states})")
    return problems
