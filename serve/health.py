"""Readiness: is every stage of this application able to take work right now?

Ray Serve's controller already knows: a replica is RUNNING only once its constructor finished (models loaded)
and while its periodic `check_health` passes (the recognition stage's fails once its vLLM engine is dead, or
pings an external VLM server). Asking the controller, rather than sending each stage a probe, keeps readiness
independent of load: a probe would queue behind pages and make a busy service look dead.

The answer carries each stage's replica states as the controller reports them, so an operator (or a test)
watching a replica being replaced sees it go RUNNING -> STOPPING + STARTING -> RUNNING, not just a 503.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ray.serve.schema import DeploymentStatusOverview, ReplicaState

STAGES = ("LayoutStage", "RecognitionStage")

# Replica state (RUNNING, STARTING, STOPPING, ...) -> how many of the stage's replicas are in it.
ReplicaCounts = dict[str, int]


def stage_replicas(
    deployments: Mapping[str, DeploymentStatusOverview], names: Sequence[str]
) -> dict[str, ReplicaCounts]:
    """Each of `names` with its replicas counted by state; a stage that is not deployed has none."""
    stages: dict[str, ReplicaCounts] = {}
    for name in names:
        states = deployments[name].replica_states if name in deployments else {}
        # The controller's states come as plain strings or as enum members, depending on the path.
        stages[name] = dict(sorted((ReplicaState(state).value, count) for state, count in states.items()))
    return stages


def readiness_problems(stages: Mapping[str, ReplicaCounts]) -> list[str]:
    """One line per stage that has no running replica; empty when all can take work."""
    problems = []
    for name, replicas in stages.items():
        if not replicas:
            problems.append(f"{name} has no replica")
        elif replicas.get(ReplicaState.RUNNING.value, 0) == 0:
            states = ", ".join(f"{state}: {count}" for state, count in replicas.items())
            problems.append(f"{name} has no running replica ({states})")
    return problems
