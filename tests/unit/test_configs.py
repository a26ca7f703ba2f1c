"""Every shipped config is a valid Ray Serve config file whose application args are a valid ServiceConfig."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError
from ray.serve.schema import ServeDeploySchema

from serve.backends import LAYOUT_BACKENDS, RECOGNITION_BACKENDS
from serve.config import ServiceConfig

CONFIGS = sorted((Path(__file__).resolve().parents[2] / "configs").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_config_validates_as_serve_schema_and_service_config(path):
    raw = yaml.safe_load(path.read_text())
    schema = ServeDeploySchema.model_validate(raw)
    for application in schema.applications:
        assert application.import_path == "serve.app:build_app"
        config = ServiceConfig.model_validate(application.args)
        assert config.layout.backend in LAYOUT_BACKENDS
        assert config.recognition.backend in RECOGNITION_BACKENDS
        named = {d["name"] for d in raw["applications"][0]["deployments"]}
        assert named == {"Ingress", "LayoutStage", "RecognitionStage"}


def test_a_misspelt_backend_option_fails_when_the_config_is_loaded():
    with pytest.raises(ValidationError, match="modle_name"):
        ServiceConfig.model_validate({"recognition": {"backend": "openai_vl",
                                                      "backend_options": {"base_url": "http://vlm/v1", "modle_name": "x"}}})


def test_an_unknown_backend_fails_when_the_config_is_loaded():
    with pytest.raises(ValidationError, match="unknown backend 'pp_doclayout_v9'"):
        ServiceConfig.model_validate({"layout": {"backend": "pp_doclayout_v9"}})


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_requests_reach_admission_and_deadlines_end_before_the_proxy_cuts_them_off(path):
    raw = yaml.safe_load(path.read_text())
    for application in raw["applications"]:
        config = ServiceConfig.model_validate(application["args"])
        ingress = next(d for d in application["deployments"] if d["name"] == "Ingress")
        # Otherwise Ray queues requests before admission can answer 429, and health probes wait behind them.
        assert ingress["max_ongoing_requests"] > config.admission.max_requests_in_flight
        # Otherwise the proxy answers first, outside the envelope, and the work is not cancelled by us.
        assert config.deadline.max_s < raw["http_options"]["request_timeout_s"]
        # A replica being replaced waits for its longest request (configs that set the wait at all).
        if "graceful_shutdown_timeout_s" in ingress:
            assert ingress["graceful_shutdown_timeout_s"] >= config.deadline.max_s


def test_the_default_body_cap_fits_a_base64_file_of_the_maximum_size_and_its_json():
    from serve.config import JSON_OVERHEAD_BYTES, InputConfig

    assert InputConfig(max_file_bytes=3_000_000).request_body_limit() == 4_000_000 + JSON_OVERHEAD_BYTES
    assert InputConfig(max_request_bytes=10).request_body_limit() == 10
