"""The recovery bound an operator can expect, read from the deployment's settings in the config file."""

from __future__ import annotations

from pathlib import Path

import yaml
from ray.serve._private.constants import DEFAULT_GRACEFUL_SHUTDOWN_TIMEOUT_S, REPLICA_HEALTH_CHECK_UNHEALTHY_THRESHOLD

from loadtest.recovery import RecoveryBound
from loadtest.service import REPO


def _config(tmp_path: Path, deployment: dict) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"applications": [{"name": "ocrvl", "import_path": "serve.app:build_app",
                                                      "deployments": [deployment]}]}))
    return path


def test_detection_is_the_failed_checks_in_a_row_at_the_configured_period_plus_one_timeout(tmp_path):
    config = _config(tmp_path, {"name": "RecognitionStage", "health_check_period_s": 2, "health_check_timeout_s": 10,
                                "graceful_shutdown_timeout_s": 30})
    bound = RecoveryBound.of(config, "RecognitionStage", start_s=40)
    assert bound.detection_s == REPLICA_HEALTH_CHECK_UNHEALTHY_THRESHOLD * 2 + 10
    assert (bound.stop_s, bound.start_s) == (30, 40)
    assert bound.total_s == bound.detection_s + 30 + 40


def test_settings_left_out_are_ray_serves_defaults(tmp_path):
    bound = RecoveryBound.of(_config(tmp_path, {"name": "LayoutStage"}), "RecognitionStage", start_s=5)
    assert bound.detection_s == REPLICA_HEALTH_CHECK_UNHEALTHY_THRESHOLD * 10 + 30
    assert bound.stop_s == DEFAULT_GRACEFUL_SHUTDOWN_TIMEOUT_S


def test_every_vl_config_detects_a_dead_engine_within_a_quarter_minute():
    for name in ("vl-cpu-tiny.yaml", "stack-cpu-tiny.yaml", "gpu.yaml", "gpu-vl-1.5.yaml"):
        assert RecoveryBound.of(REPO / "configs" / name, "RecognitionStage", start_s=0).detection_s <= 16, name
