"""Readiness from the controller's view of the stages' replicas."""

from __future__ import annotations

from ray.serve._private.common import DeploymentStatus, DeploymentStatusTrigger
from ray.serve.schema import DeploymentStatusOverview, ReplicaState

from serve.health import STAGES, readiness_problems, stage_reasons, stage_replicas


def _deployment(message: str = "", **replicas: int) -> DeploymentStatusOverview:
    return DeploymentStatusOverview(
        status=DeploymentStatus.HEALTHY, status_trigger=DeploymentStatusTrigger.CONFIG_UPDATE_COMPLETED,
        replica_states={ReplicaState(state): count for state, count in replicas.items()}, message=message,
    )


def test_every_stage_with_a_running_replica_is_ready():
    stages = stage_replicas({name: _deployment(RUNNING=1, STARTING=1) for name in STAGES}, STAGES)
    assert stages == {name: {"RUNNING": 1, "STARTING": 1} for name in STAGES}
    assert readiness_problems(stages) == []


def test_a_stage_without_a_running_replica_is_named_with_its_replica_states():
    stages = stage_replicas({"LayoutStage": _deployment(STARTING=1), "RecognitionStage": _deployment(RUNNING=2)}, STAGES)
    assert readiness_problems(stages) == ["LayoutStage has no running replica (STARTING: 1)"]


def test_replica_states_keyed_by_plain_strings_as_serve_status_returns_them():
    replacing = _deployment()
    replacing.replica_states.update({"STOPPING": 1, "STARTING": 1})
    stages = stage_replicas({"LayoutStage": replacing, "RecognitionStage": _deployment(RUNNING=1)}, STAGES)
    assert stages["LayoutStage"] == {"STARTING": 1, "STOPPING": 1}
    assert readiness_problems(stages) == ["LayoutStage has no running replica (STARTING: 1, STOPPING: 1)"]


def test_a_missing_stage_is_not_ready():
    stages = stage_replicas({"LayoutStage": _deployment(RUNNING=1)}, STAGES)
    assert stages["RecognitionStage"] == {}
    assert readiness_problems(stages) == ["RecognitionStage has no replica"]


def test_a_stage_that_cannot_start_says_the_controllers_reason():
    unplaced = ("Deployment 'RecognitionStage' has 1 replicas that have taken more than 30s to be scheduled. "
                "Resources required for each replica: {\"CPU\": 0.5, \"recognition_node\": 0.01}")
    deployments = {"LayoutStage": _deployment(RUNNING=1), "RecognitionStage": _deployment(unplaced, STARTING=1)}
    assert stage_reasons(deployments, STAGES) == {"RecognitionStage": unplaced}
    problems = readiness_problems(stage_replicas(deployments, STAGES), stage_reasons(deployments, STAGES))
    assert problems == [f"RecognitionStage has no running replica (STARTING: 1): {unplaced}"]


def test_a_reason_that_carries_a_traceback_is_told_on_one_line_without_its_frames():
    died = ("A replica failed to start with exception. Retrying. Error:\n"
            "Traceback (most recent call last):\n"
            '  File "deployment_state.py", line 1426, in check_ready\n'
            "    ) = ray.get(self._allocated_obj_ref)\n"
            "        ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^\n"
            "ray.exceptions.ActorDiedError: The actor died unexpectedly before finishing this task.\n"
            "\tclass_name: ServeReplica:ocrvl:RecognitionStage\n"
            "The actor died because its node has died.\n")
    assert stage_reasons({"RecognitionStage": _deployment(died, STARTING=1)}, STAGES) == {"RecognitionStage": (
        "A replica failed to start with exception. Retrying. Error: ray.exceptions.ActorDiedError: The actor died "
        "unexpectedly before finishing this task. class_name: ServeReplica:ocrvl:RecognitionStage "
        "The actor died because its node has died.")}
