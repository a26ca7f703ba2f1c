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


def stage_reasons(deployments: Mapping[str, DeploymentStatusOverview], names: Sequence[str]) -> dict[str, str]:
    """What the controller says of each of `names` that are deployed, when it says something: why a replica has
    not started (no node with the resources it asks for), why one failed (its node died)."""
    return {name: one_line(deployments[name].message) for name in names
            if name in deployments and deployments[name].message}


def one_line(message: str) -> str:
    """The controller's message on one line, without the frames of a traceback it may carry: the exception and
    Ray's explanation of it say why; the frames are Ray's own code."""
    return " ".join(line.strip() for line in message.splitlines()
                    if line.strip() and not line.startswith((" ", "Traceback (most recent call last)")))


def readiness_problems(stages: Mapping[str, ReplicaCounts], reasons: Mapping[str, str] | None = None) -> list[str]:
    """One line per stage that has no running replica, with the controller's reason where it gives one; empty when
    all can take work."""
    problems = []
    for name, replicas in stages.items():
        if not replicas:
            problems.append(f"{name} has no replica")
        elif replicas.get(ReplicaState.RUNNING.value, 0) == 0:
            states = ", ".join(f"{state}: {count}" for state, count in replicas.items())
            reason = (reasons or {}).get(name)
            problems.append(f"{name} has no running replica ({states})" + (f": {reason}" if reason else ""))
    return problems
