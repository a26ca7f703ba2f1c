"""The checked-in KubeRay manifests (deploy/k8s/) against KubeRay's CRD, Ray's Serve schema, our ServiceConfig, each
other, and a fresh render; and the Grafana dashboard against the metrics the service exports."""

from __future__ import annotations

import copy
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from ray.serve.schema import ServeDeploySchema

from deploy import render
from serve.config import ServiceConfig
from tests.deploy_manifests import dashboard_metric_names, dashboard_panels, load_dashboard, promql_metric_names

REPO = Path(__file__).resolve().parents[2]
CRD = REPO.parent / "shared" / "k8s" / "ray.io_rayservices.yaml"
TARGETS = sorted(path.name for path in (REPO / "deploy" / "k8s").iterdir() if path.is_dir())
DEPLOYMENTS = {"Ingress", "LayoutStage", "RecognitionStage"}
METRIC_PREFIXES = ("ray_ocrvl_", "ray_serve_", "ray_vllm_", "DCGM_")


def load_documents(target: str, name: str) -> list[dict[str, Any]]:
    return list(yaml.safe_load_all((REPO / "deploy" / "k8s" / target / name).read_text()))


def rayservice_of(target: str) -> dict[str, Any]:
    (document,) = load_documents(target, "rayservice.yaml")
    return document


def serve_config_of(target: str) -> dict[str, Any]:
    return yaml.safe_load(rayservice_of(target)["spec"]["serveConfigV2"])


def pod_templates(rayservice: dict[str, Any]) -> Iterator[dict[str, Any]]:
    cluster = rayservice["spec"]["rayClusterConfig"]
    yield cluster["headGroupSpec"]["template"]
    for group in cluster["workerGroupSpecs"]:
        yield group["template"]


def ray_container(template: dict[str, Any]) -> dict[str, Any]:
    # KubeRay takes the first container for Ray's unless one sets RAY=true; ours have one container.
    return template["spec"]["containers"][0]


def limits_of(group: dict[str, Any]) -> dict[str, str]:
    return ray_container(group["template"])["resources"]["limits"]


def ports_of(template: dict[str, Any]) -> dict[str, int]:
    return {port["name"]: port["containerPort"] for port in ray_container(template)["ports"]}


def strict(schema: dict[str, Any]) -> dict[str, Any]:
    """The CRD's OpenAPI schema as the API server applies it to a new object, in JSON Schema terms: fields an object
    schema does not declare are rejected (kubectl's strict field validation; plain JSON Schema allows them), and
    int-or-string fields that declare no type take either."""
    schema = dict(schema)
    if "properties" in schema:
        schema["properties"] = {name: strict(field) for name, field in schema["properties"].items()}
        if "additionalProperties" not in schema and not schema.get("x-kubernetes-preserve-unknown-fields"):
            schema["additionalProperties"] = False
    for keyword in ("items", "additionalProperties"):
        if isinstance(schema.get(keyword), dict):
            schema[keyword] = strict(schema[keyword])
    for keyword in ("anyOf", "allOf", "oneOf"):
        if keyword in schema:
            schema[keyword] = [strict(option) for option in schema[keyword]]
    if schema.get("x-kubernetes-int-or-string") and "type" not in schema and "anyOf" not in schema:
        schema["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    return schema


@pytest.fixture(scope="module")
def rayservice_validator() -> jsonschema.protocols.Validator:
    if not CRD.is_file():
        pytest.skip(f"{CRD} is not beside the checkout")
    # 1 MB of YAML: libyaml reads it in a tenth of the time of the pure-Python loader.
    crd = yaml.load(CRD.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    (version,) = [version for version in crd["spec"]["versions"] if version["name"] == "v1"]
    return jsonschema.Draft202012Validator(strict(version["schema"]["openAPIV3Schema"]))


def test_every_target_is_rendered():
    assert TARGETS == sorted(path.stem for path in (REPO / "deploy" / "values").glob("*.yaml"))


@pytest.mark.parametrize("target", TARGETS)
def test_rayservice_validates_against_the_crd(target, rayservice_validator):
    errors = [error.message for error in rayservice_validator.iter_errors(rayservice_of(target))]
    assert errors == []


_DELETE = object()


def _set(document: dict[str, Any], path: str, value: Any) -> None:
    """Sets (or with _DELETE removes) the field at a dotted path; numbers index lists."""
    *parents, last = path.split(".")
    for key in parents:
        document = document[int(key)] if key.isdigit() else document[key]
    if value is _DELETE:
        del document[last]
    else:
        document[last] = value


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("spec.rayClusterConfig.workerGroupSpecs.0.replicas", "two", "'two' is not of type 'integer'"),
        ("spec.serveConfigV3", "a misspelt field", "'serveConfigV3' was unexpected"),
        ("spec.rayClusterConfig.headGroupSpec.template.spec.containers.0.portz", [], "'portz' was unexpected"),
        ("spec.rayClusterConfig.headGroupSpec", _DELETE, "'headGroupSpec' is a required property"),
    ],
    ids=["wrong type", "unknown spec field", "unknown container field", "missing required field"],
)
def test_a_broken_rayservice_fails_validation(path, value, message, rayservice_validator):
    broken = copy.deepcopy(rayservice_of(TARGETS[0]))
    _set(broken, path, value)
    errors = [error.message for error in rayservice_validator.iter_errors(broken)]
    assert any(message in error for error in errors), errors


@pytest.mark.parametrize("target", TARGETS)
def test_serve_config_validates_as_ray_and_the_app_validate_it(target):
    schema = ServeDeploySchema.model_validate(serve_config_of(target))
    for application in schema.applications:
        assert application.import_path == "serve.app:build_app"
        ServiceConfig.model_validate(application.args)
        assert {deployment.name for deployment in application.deployments} == DEPLOYMENTS


@pytest.mark.parametrize("target", TARGETS)
def test_serve_listens_where_kuberay_routes_and_not_on_the_metrics_port(target):
    config = serve_config_of(target)
    cluster = rayservice_of(target)["spec"]["rayClusterConfig"]
    head_ports = ports_of(cluster["headGroupSpec"]["template"])
    assert config["proxy_location"] == "EveryNode"
    assert config["http_options"]["host"] == "0.0.0.0"
    assert config["http_options"]["port"] == head_ports["serve"] != head_ports["metrics"]
    for group in [cluster["headGroupSpec"], *cluster["workerGroupSpecs"]]:
        ports = ports_of(group["template"])
        assert group["rayStartParams"]["metrics-export-port"] == str(ports["metrics"])
        assert ports["serve"] == config["http_options"]["port"]
    assert cluster["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0"


def cpu_cores(quantity: str) -> float:
    return float(quantity[:-1]) / 1000 if quantity.endswith("m") else float(quantity)


def fits(options: dict[str, Any], group: dict[str, Any]) -> bool:
    """Whether one replica with these ray_actor_options fits one pod of the worker group."""
    limits = limits_of(group)
    labels = group.get("labels", {})
    return (
        options.get("num_gpus", 0) <= int(limits.get("nvidia.com/gpu", 0))
        and options.get("num_cpus", 1) <= cpu_cores(limits["cpu"])
        and all(labels.get(key) == value for key, value in (options.get("label_selector") or {}).items())
    )


@pytest.mark.parametrize("target", TARGETS)
def test_every_replica_fits_a_worker_pod(target):
    groups = rayservice_of(target)["spec"]["rayClusterConfig"]["workerGroupSpecs"]
    for deployment in serve_config_of(target)["applications"][0]["deployments"]:
        options = deployment.get("ray_actor_options", {})
        assert any(fits(options, group) for group in groups), deployment["name"]


def test_gpu_target_runs_recognition_on_a_gpu_and_reads_weights_from_the_model_volume():
    (application,) = serve_config_of("gpu")["applications"]
    deployments = {deployment["name"]: deployment for deployment in application["deployments"]}
    assert deployments["RecognitionStage"]["ray_actor_options"]["num_gpus"] > 0
    groups = rayservice_of("gpu")["spec"]["rayClusterConfig"]["workerGroupSpecs"]
    gpu_groups = [group for group in groups if "nvidia.com/gpu" in limits_of(group)]
    assert gpu_groups
    for group in gpu_groups:
        mounts = {mount["mountPath"]: mount for mount in ray_container(group["template"])["volumeMounts"]}
        assert mounts["/models"]["readOnly"] is True
        volumes = group["template"]["spec"]["volumes"]
        claims = [volume["persistentVolumeClaim"] for volume in volumes if "persistentVolumeClaim" in volume]
        assert claims == [{"claimName": "ocrvl-models", "readOnly": True}]
    for stage in ("layout", "recognition"):
        assert application["args"][stage]["backend_options"]["model"].startswith("/models/")


@pytest.mark.parametrize("target", TARGETS)
def test_auth_is_on_and_every_pod_mounts_the_key_file_read_only(target):
    (application,) = serve_config_of(target)["applications"]
    auth = application["args"]["auth"]
    assert auth["enabled"] is True
    key_dir, key_name = auth["keys_file"].rsplit("/", 1)
    for template in pod_templates(rayservice_of(target)):
        mounts = {mount["name"]: mount for mount in ray_container(template)["volumeMounts"]}
        secrets = {volume["name"]: volume["secret"] for volume in template["spec"]["volumes"] if "secret" in volume}
        (name,) = secrets
        assert mounts[name]["mountPath"] == key_dir and mounts[name]["readOnly"] is True
        assert [item["path"] for item in secrets[name]["items"]] == [key_name]


@pytest.mark.parametrize("target", TARGETS)
def test_results_go_to_s3_by_url_and_every_pod_gets_the_optional_credentials(target):
    rayservice = rayservice_of(target)
    (application,) = serve_config_of(target)["applications"]
    (ingress,) = load_documents(target, "service.yaml")
    storage = application["args"]["storage"]
    assert application["args"]["output"]["images"] == "url"
    assert storage["backend"] == "s3" and storage["s3"]["bucket"]
    assert storage["public_base_url"] == f"https://{ingress['spec']['rules'][0]['host']}"
    for template in pod_templates(rayservice):
        # Optional, so a pod role (IRSA, workload identity) can stand in for the Secret.
        assert ray_container(template)["envFrom"] == [{"secretRef": {"name": "ocrvl-s3-credentials", "optional": True}}]


def test_render_check_passes_on_the_checked_in_files():
    assert render.main(["--check"]) == 0


def test_render_check_notices_an_edited_manifest(tmp_path):
    copy_dir = tmp_path / "k8s"
    shutil.copytree(REPO / "deploy" / "k8s", copy_dir)
    edited = copy_dir / TARGETS[0] / "rayservice.yaml"
    edited.write_text(edited.read_text().replace("maxReplicas: ", "maxReplicas: 1", 1))
    (copy_dir / "gone").mkdir()
    (copy_dir / "gone" / "rayservice.yaml").write_text("")
    stale = render.stale_files(render.render_all(), copy_dir)
    assert sorted(stale) == sorted(["gone/rayservice.yaml", f"{TARGETS[0]}/rayservice.yaml"])


@pytest.mark.parametrize("target", TARGETS)
def test_every_document_is_named(target):
    for name in ("service.yaml", "monitoring.yaml", "kustomization.yaml"):
        for document in load_documents(target, name):
            assert document["apiVersion"] and document["kind"], name
            assert document["kind"] == "Kustomization" or document["metadata"]["name"], name


@pytest.mark.parametrize("target", TARGETS)
def test_kustomization_lists_the_target_files(target):
    (kustomization,) = load_documents(target, "kustomization.yaml")
    assert sorted(kustomization["resources"]) == sorted({"rayservice.yaml", "service.yaml", "monitoring.yaml"})


@pytest.mark.parametrize("target", TARGETS)
def test_ingress_routes_to_kuberays_serve_service(target):
    rayservice = rayservice_of(target)
    (ingress,) = load_documents(target, "service.yaml")
    assert ingress["kind"] == "Ingress"
    paths = {path["path"]: path["backend"]["service"] for path in ingress["spec"]["rules"][0]["http"]["paths"]}
    assert set(paths) == {"/layout-parsing", "/health", "/health/ready"}
    for service in paths.values():
        assert service == {"name": f"{rayservice['metadata']['name']}-serve-svc", "port": {"number": 8000}}


@pytest.mark.parametrize("target", TARGETS)
def test_pod_monitor_selects_every_ray_pod_on_its_metrics_port(target):
    (monitor,) = load_documents(target, "monitoring.yaml")
    assert (monitor["apiVersion"], monitor["kind"]) == ("monitoring.coreos.com/v1", "PodMonitor")
    selector = monitor["spec"]["selector"]["matchLabels"]
    (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
    for template in pod_templates(rayservice_of(target)):
        assert selector.items() <= template["metadata"]["labels"].items()
        assert endpoint["port"] in ports_of(template)


def test_dashboard_panels_have_unique_ids_and_queries():
    panels = list(dashboard_panels(load_dashboard()))
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids))
    targets = [target for panel in panels for target in panel.get("targets", [])]
    assert targets and all(target.get("expr") for target in targets)


def test_dashboard_queries_only_exported_metrics():
    names = dashboard_metric_names(load_dashboard())
    assert names and all(name.startswith(METRIC_PREFIXES) for name in names), sorted(names)


def test_metric_names_are_read_from_promql():
    expr = (
        'histogram_quantile(0.99, sum by (le, endpoint) (rate(ray_ocrvl_x_seconds_bucket{endpoint="/a", status=~"5.."}'
        "[$__rate_interval]))) / on (instance) group_left sum without (replica) (up offset 5m) > bool 1e3"
        " and ray_serve_y # a comment naming not_a_metric"
    )
    assert promql_metric_names(expr) == {"ray_ocrvl_x_seconds_bucket", "up", "ray_serve_y"}
    in_a_row = {"panels": [{"type": "row", "panels": [{"targets": [{"expr": "rate(DCGM_A[5m])"}]}]}]}
    assert dashboard_metric_names(in_a_row) == {"DCGM_A"}
