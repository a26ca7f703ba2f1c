"""The checked-in KubeRay manifests (deploy/k8s/) against KubeRay's CRD, Ray's Serve schema, our ServiceConfig, each
other, and a fresh render; the jobs' Redis beside them; and the Grafana dashboard against the metrics the service
exports."""

from __future__ import annotations

import copy
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest
import yaml
from pydantic import ValidationError
from ray.serve.schema import ServeDeploySchema

from deploy import render
from serve.config import ServiceConfig
from serve.http_app import JOBS_PATH
from tests.deploy_manifests import dashboard_metric_names, dashboard_panels, load_dashboard, promql_metric_names

REPO = Path(__file__).resolve().parents[2]
CRD = REPO.parent / "shared" / "k8s" / "ray.io_rayservices.yaml"
TARGETS = sorted(path.name for path in (REPO / "deploy" / "k8s").iterdir() if path.is_dir())
DEPLOYMENTS = {"Ingress", "LayoutStage", "RecognitionStage"}
METRIC_PREFIXES = ("ray_ocrvl_", "ray_serve_", "ray_vllm_", "DCGM_")


def load_documents(target: str, name: str) -> list[dict[str, Any]]:
    return list(yaml.safe_load_all((REPO / "deploy" / "k8s" / target / name).read_text()))


def target_files(target: str) -> set[str]:
    return {path.name for path in (REPO / "deploy" / "k8s" / target).iterdir()}


REDIS_TARGETS = [target for target in TARGETS if "redis.yaml" in target_files(target)]


def objects_by_kind(target: str, name: str) -> dict[str, dict[str, Any]]:
    documents = load_documents(target, name)
    objects = {document["kind"]: document for document in documents}
    assert len(objects) == len(documents), f"a kind repeats in {name}"
    return objects


def redis_objects(target: str) -> dict[str, dict[str, Any]]:
    """The jobs' Redis objects of a target by kind (StatefulSet, Service, NetworkPolicy)."""
    return objects_by_kind(target, "redis.yaml")


def rayservice_of(target: str) -> dict[str, Any]:
    (document,) = load_documents(target, "rayservice.yaml")
    return document


def serve_config_of(target: str) -> dict[str, Any]:
    return yaml.safe_load(rayservice_of(target)["spec"]["serveConfigV2"])


def application_args(config: dict[str, Any]) -> dict[str, Any]:
    (application,) = config["applications"]
    return application["args"]


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
def rayservice_schema() -> dict[str, Any]:
    if not CRD.is_file():
        pytest.skip(f"{CRD} is not beside the checkout")
    # 1 MB of YAML: libyaml reads it in a tenth of the time of the pure-Python loader.
    crd = yaml.load(CRD.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    (version,) = [version for version in crd["spec"]["versions"] if version["name"] == "v1"]
    return strict(version["schema"]["openAPIV3Schema"])


@pytest.fixture(scope="module")
def rayservice_validator(rayservice_schema) -> jsonschema.protocols.Validator:
    return jsonschema.Draft202012Validator(rayservice_schema)


@pytest.fixture(scope="module")
def pod_template_validator(rayservice_schema) -> jsonschema.protocols.Validator:
    """Kubernetes' own PodTemplateSpec schema (core/v1), as the CRD embeds it for a Ray pod group's template: what
    the API server checks any pod template against, a StatefulSet's included."""
    cluster = rayservice_schema["properties"]["spec"]["properties"]["rayClusterConfig"]
    return jsonschema.Draft202012Validator(cluster["properties"]["headGroupSpec"]["properties"]["template"])


@pytest.fixture(scope="module")
def claim_template_validator(rayservice_schema) -> jsonschema.protocols.Validator:
    """Kubernetes' PersistentVolumeClaimTemplate schema (metadata and PersistentVolumeClaimSpec), as the CRD embeds
    it for a pod's ephemeral volume; a StatefulSet's volumeClaimTemplates take the same fields."""
    cluster = rayservice_schema["properties"]["spec"]["properties"]["rayClusterConfig"]
    pod = cluster["properties"]["headGroupSpec"]["properties"]["template"]["properties"]["spec"]
    ephemeral = pod["properties"]["volumes"]["items"]["properties"]["ephemeral"]
    return jsonschema.Draft202012Validator(ephemeral["properties"]["volumeClaimTemplate"])


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
    for name in target_files(target):
        for document in load_documents(target, name):
            assert document["apiVersion"] and document["kind"], name
            assert document["kind"] == "Kustomization" or document["metadata"]["name"], name


@pytest.mark.parametrize("target", TARGETS)
def test_kustomization_lists_the_target_files(target):
    (kustomization,) = load_documents(target, "kustomization.yaml")
    assert {"rayservice.yaml", "service.yaml", "monitoring.yaml"} <= set(kustomization["resources"])
    assert sorted(kustomization["resources"]) == sorted(target_files(target) - {"kustomization.yaml"})


@pytest.mark.parametrize("target", TARGETS)
def test_ingress_routes_to_kuberays_serve_service_and_the_job_api_when_jobs_run(target):
    rayservice = rayservice_of(target)
    (ingress,) = load_documents(target, "service.yaml")
    assert ingress["kind"] == "Ingress"
    paths = {path["path"]: path for path in ingress["spec"]["rules"][0]["http"]["paths"]}
    jobs = application_args(serve_config_of(target)).get("jobs", {}).get("enabled", False)
    assert set(paths) == {"/layout-parsing", "/health", "/health/ready"} | ({JOBS_PATH} if jobs else set())
    for path in paths.values():
        assert path["backend"]["service"] == {
            "name": f"{rayservice['metadata']['name']}-serve-svc", "port": {"number": 8000}
        }
    if jobs:
        # The job's own paths (`/api/v2/ocr/jobs/{jobId}`, `/batch/{batchId}`) lie below the submit path.
        assert paths[JOBS_PATH]["pathType"] == "Prefix"


@pytest.mark.parametrize("target", TARGETS)
def test_jobs_redis_is_rendered_exactly_when_the_app_runs_jobs_without_an_external_redis(target):
    values = render.load_values(REPO / "deploy" / "values" / f"{target}.yaml")
    jobs = application_args(serve_config_of(target)).get("jobs", {})
    expected = jobs.get("enabled", False) and values.jobs.redis.external_url is None
    assert ("redis.yaml" in target_files(target)) == expected
    if jobs.get("enabled", False):
        # A replica refuses to start on a cluster config without one.
        assert jobs["redis_url"]


def test_some_target_runs_jobs_on_a_rendered_redis():
    assert REDIS_TARGETS


@pytest.mark.parametrize("target", REDIS_TARGETS)
def test_jobs_redis_url_names_the_rendered_service_and_its_port(target):
    objects = redis_objects(target)
    service, statefulset = objects["Service"], objects["StatefulSet"]
    url = urlsplit(application_args(serve_config_of(target))["jobs"]["redis_url"])
    (port,) = service["spec"]["ports"]
    assert (url.scheme, url.hostname, url.port, url.path) == ("redis", service["metadata"]["name"], port["port"], "/0")
    assert service["spec"]["type"] == "ClusterIP"
    pod = statefulset["spec"]["template"]
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    (container,) = pod["spec"]["containers"]
    container_ports = {entry["name"]: entry["containerPort"] for entry in container["ports"]}
    assert container_ports[port["targetPort"]] == port["port"]
    assert container["args"][container["args"].index("--port") + 1] == str(port["port"])


def flag(args: list[str], name: str) -> str:
    """The value of `--name value` in a redis-server command line."""
    return args[args.index(f"--{name}") + 1]


@pytest.mark.parametrize("target", REDIS_TARGETS)
def test_redis_statefulset_keeps_an_append_only_file_on_its_claim(
    target, pod_template_validator, claim_template_validator
):
    statefulset = redis_objects(target)["StatefulSet"]
    spec = statefulset["spec"]
    assert (statefulset["apiVersion"], spec["replicas"]) == ("apps/v1", 1)
    assert spec["serviceName"] == redis_objects(target)["Service"]["metadata"]["name"]
    assert spec["selector"]["matchLabels"].items() <= spec["template"]["metadata"]["labels"].items()
    assert [error.message for error in pod_template_validator.iter_errors(spec["template"])] == []
    (claim,) = spec["volumeClaimTemplates"]
    assert [error.message for error in claim_template_validator.iter_errors(claim)] == []
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"] and claim["spec"]["resources"]["requests"]["storage"]
    (container,) = spec["template"]["spec"]["containers"]
    args = container["args"]
    assert args[0] == "redis-server"
    assert (flag(args, "appendonly"), flag(args, "appendfsync")) == ("yes", "always")
    mounts = {mount["mountPath"]: mount["name"] for mount in container["volumeMounts"]}
    assert mounts[flag(args, "dir")] == claim["metadata"]["name"]
    # Refused writes, not evicted jobs, and refused before the container's memory limit kills it.
    assert flag(args, "maxmemory-policy") == "noeviction"
    limit = render.memory_bytes(container["resources"]["limits"]["memory"])
    assert 0 < int(flag(args, "maxmemory")) < limit
    assert container["resources"]["requests"] == container["resources"]["limits"]


@pytest.mark.parametrize("target", REDIS_TARGETS)
def test_redis_runs_as_non_root_and_is_probed_with_redis_cli_ping(target):
    pod = redis_objects(target)["StatefulSet"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0
    # The claim is writable by the pod's group, not root's.
    assert pod["securityContext"]["fsGroup"] == pod["securityContext"]["runAsGroup"]
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    for probe in ("readinessProbe", "livenessProbe"):
        assert "redis-cli -p 6379 ping" in " ".join(container[probe]["exec"]["command"]), probe


def test_pod_template_schema_rejects_a_misspelt_container_field(pod_template_validator):
    template = copy.deepcopy(redis_objects(REDIS_TARGETS[0])["StatefulSet"]["spec"]["template"])
    template["spec"]["containers"][0]["readinessprobe"] = template["spec"]["containers"][0].pop("readinessProbe")
    errors = [error.message for error in pod_template_validator.iter_errors(template)]
    assert any("'readinessprobe' was unexpected" in error for error in errors), errors


@pytest.mark.parametrize("target", REDIS_TARGETS)
def test_redis_network_policy_admits_only_this_releases_ray_pods_to_the_redis_port(target):
    objects = redis_objects(target)
    policy = objects["NetworkPolicy"]["spec"]
    redis_pod_labels = objects["StatefulSet"]["spec"]["template"]["metadata"]["labels"]
    ray_pod_labels = [template["metadata"]["labels"] for template in pod_templates(rayservice_of(target))]
    # It fences the Redis pod, and no Ray pod.
    assert policy["podSelector"]["matchLabels"].items() <= redis_pod_labels.items()
    assert not any(policy["podSelector"]["matchLabels"].items() <= labels.items() for labels in ray_pod_labels)
    assert policy["policyTypes"] == ["Ingress"]
    (rule,) = policy["ingress"]
    # One peer, a pod selector alone: pods of this namespace only, no namespaceSelector or ipBlock widening it.
    (peer,) = rule["from"]
    assert set(peer) == {"podSelector"}
    admitted = peer["podSelector"]["matchLabels"]
    assert admitted == render.app_labels(render.load_values(REPO / "deploy" / "values" / f"{target}.yaml"))
    # Head and every worker group: an ingress replica may land on any of them.
    assert all(admitted.items() <= labels.items() for labels in ray_pod_labels)
    assert not admitted.items() <= redis_pod_labels.items()
    (port,) = objects["Service"]["spec"]["ports"]
    assert rule["ports"] == [{"protocol": "TCP", "port": port["port"]}]


@pytest.mark.parametrize("target", REDIS_TARGETS)
def test_pod_monitor_does_not_select_the_redis_pod(target):
    (monitor,) = load_documents(target, "monitoring.yaml")
    redis_pod_labels = redis_objects(target)["StatefulSet"]["spec"]["template"]["metadata"]["labels"]
    assert not monitor["spec"]["selector"]["matchLabels"].items() <= redis_pod_labels.items()


def values_with(target: str, overrides: dict[str, Any]) -> render.Values:
    """A target's values with `overrides` deep-merged into them, with jobs on whatever its app config says."""
    raw = yaml.safe_load((REPO / "deploy" / "values" / f"{target}.yaml").read_text())
    raw = render.deep_merge(raw, {"app_overrides": {"jobs": {"enabled": True}}})
    return render.Values.model_validate(render.deep_merge(raw, overrides))


def rendered_args(files: dict[str, str]) -> dict[str, Any]:
    (rayservice,) = yaml.safe_load_all(files["rayservice.yaml"])
    return application_args(yaml.safe_load(rayservice["spec"]["serveConfigV2"]))


@pytest.mark.parametrize("target", TARGETS)
def test_an_external_redis_renders_no_redis_and_is_the_jobs_redis_url(target):
    external = "rediss://redis.example.internal:6380/2"
    files = render.render_values(values_with(target, {"jobs": {"redis": {"external_url": external}}}), "test")
    assert "redis.yaml" not in files
    (kustomization,) = yaml.safe_load_all(files["kustomization.yaml"])
    assert "redis.yaml" not in kustomization["resources"]
    assert rendered_args(files)["jobs"]["redis_url"] == external


def test_quotas_share_the_jobs_redis_unless_the_overrides_name_theirs():
    quotas_on = {"app_overrides": {"quotas": {"enabled": True}}}
    values = values_with(TARGETS[0], quotas_on)
    args = rendered_args(render.render_values(values, "test"))
    assert args["quotas"]["redis_url"] == args["jobs"]["redis_url"] == render.jobs_redis_url(values)
    own = "redis://quotas.example.internal:6379/0"
    values = values_with(TARGETS[0], render.deep_merge(quotas_on, {"app_overrides": {"quotas": {"redis_url": own}}}))
    assert rendered_args(render.render_values(values, "test"))["quotas"]["redis_url"] == own


def test_values_refuse_a_jobs_redis_url_in_app_overrides():
    with pytest.raises(ValidationError, match="jobs.redis.external_url"):
        values_with(TARGETS[0], {"app_overrides": {"jobs": {"redis_url": "redis://elsewhere:6379/0"}}})


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


CACHE_TARGETS = [target for target in TARGETS if "page-cache.yaml" in target_files(target)]


def cache_objects(target: str) -> dict[str, dict[str, Any]]:
    """The page cache's Redis objects of a target by kind (Deployment, Service, NetworkPolicy)."""
    return objects_by_kind(target, "page-cache.yaml")


@pytest.mark.parametrize("target", TARGETS)
def test_page_cache_redis_is_rendered_exactly_when_the_app_runs_the_cache_without_an_external_redis(target):
    values = render.load_values(REPO / "deploy" / "values" / f"{target}.yaml")
    cache = application_args(serve_config_of(target)).get("page_cache", {})
    expected = cache.get("enabled", False) and values.page_cache.redis.external_url is None
    assert ("page-cache.yaml" in target_files(target)) == expected
    if cache.get("enabled", False):
        assert cache["redis_url"] and cache["redis_url"] != application_args(serve_config_of(target)).get(
            "jobs", {}).get("redis_url")


def test_some_target_runs_the_page_cache_on_a_rendered_redis():
    assert CACHE_TARGETS


@pytest.mark.parametrize("target", CACHE_TARGETS)
def test_page_cache_redis_forgets_least_recently_used_pages_and_keeps_nothing_on_disk(target, pod_template_validator):
    objects = cache_objects(target)
    deployment, service = objects["Deployment"], objects["Service"]
    spec = deployment["spec"]
    assert (deployment["apiVersion"], spec["replicas"]) == ("apps/v1", 1)
    assert [error.message for error in pod_template_validator.iter_errors(spec["template"])] == []
    pod = spec["template"]["spec"]
    (container,) = pod["containers"]
    args = container["args"]
    assert (flag(args, "maxmemory-policy"), flag(args, "appendonly"), flag(args, "save")) == ("allkeys-lru", "no", "")
    assert "volumes" not in pod and "volumeMounts" not in container
    assert 0 < int(flag(args, "maxmemory")) < render.memory_bytes(container["resources"]["limits"]["memory"])
    assert pod["securityContext"]["runAsNonRoot"] is True and container["securityContext"]["capabilities"] == {
        "drop": ["ALL"]}
    url = urlsplit(application_args(serve_config_of(target))["page_cache"]["redis_url"])
    (port,) = service["spec"]["ports"]
    assert (url.scheme, url.hostname, url.port) == ("redis", service["metadata"]["name"], port["port"])
    assert service["spec"]["selector"].items() <= spec["template"]["metadata"]["labels"].items()


@pytest.mark.parametrize("target", CACHE_TARGETS)
def test_page_cache_redis_admits_only_this_releases_ray_pods_and_is_apart_from_the_jobs_redis(target):
    objects = cache_objects(target)
    policy = objects["NetworkPolicy"]["spec"]
    cache_pod_labels = objects["Deployment"]["spec"]["template"]["metadata"]["labels"]
    assert policy["podSelector"]["matchLabels"].items() <= cache_pod_labels.items()
    (rule,) = policy["ingress"]
    (peer,) = rule["from"]
    assert peer == {"podSelector": {"matchLabels": render.app_labels(
        render.load_values(REPO / "deploy" / "values" / f"{target}.yaml"))}}
    if target in REDIS_TARGETS:
        jobs = redis_objects(target)
        jobs_pod_labels = jobs["StatefulSet"]["spec"]["template"]["metadata"]["labels"]
        assert not jobs["Service"]["spec"]["selector"].items() <= cache_pod_labels.items()
        assert not objects["Service"]["spec"]["selector"].items() <= jobs_pod_labels.items()


@pytest.mark.parametrize("target", TARGETS)
def test_an_external_page_cache_redis_renders_none_and_is_the_redis_url(target):
    external = "rediss://cache.example.internal:6380/1"
    values = values_with(target, {"app_overrides": {"page_cache": {"enabled": True}},
                                  "page_cache": {"redis": {"external_url": external}}})
    files = render.render_values(values, "test")
    assert "page-cache.yaml" not in files
    assert rendered_args(files)["page_cache"]["redis_url"] == external


def test_values_refuse_a_page_cache_redis_url_in_app_overrides():
    with pytest.raises(ValidationError, match="page_cache.redis.external_url"):
        values_with(TARGETS[0], {"app_overrides": {"page_cache": {"redis_url": "redis://elsewhere:6379/0"}}})
