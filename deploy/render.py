"""Renders the KubeRay manifests of every target in deploy/values/ into deploy/k8s/<target>/.

    .venv/bin/python -m deploy.render           # write deploy/k8s/*/
    .venv/bin/python -m deploy.render --check   # exit 1 if the checked-in files differ from a fresh render (CI)

A target is an app config (configs/*.yaml, the Ray Serve config format the service runs locally) plus a small
typed values file: image, model volume, Ray pod groups and their resources, result bucket, and overrides of the
application's `args` and deployments. This stands in for kustomize overlays because a RayService carries the Serve
config as a YAML *string* (`serveConfigV2`), which kustomize cannot patch field by field.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, PositiveInt, model_validator

REPO = Path(__file__).resolve().parents[1]
VALUES_DIR = REPO / "deploy" / "values"
K8S_DIR = REPO / "deploy" / "k8s"

RAY_VERSION = "2.60.0"
# KubeRay's serve Service targets the head container's port named `serve`, and its readiness probe on worker
# pods asks the Serve proxy on 8000; Ray's metrics agent exports on 8080 in KubeRay pods. The app configs use
# 8080 for HTTP locally, so the renderer moves HTTP to 8000.
SERVE_PORT = 8000
METRICS_PORT = 8080
HEAD_PORTS = {"gcs": 6379, "dashboard": 8265, "client": 10001, "serve": SERVE_PORT, "metrics": METRICS_PORT}
# Workers run a Serve proxy (proxy_location: EveryNode) and a metrics agent; GCS, dashboard and client are head-only.
WORKER_PORTS = {"serve": SERVE_PORT, "metrics": METRICS_PORT}
APP_NAME = "ocrvl"
# Added to the proxies' request timeout before KubeRay deletes an old cluster after an upgrade.
DRAIN_MARGIN_S = 60
DEPLOYMENT_NAMES = ("Ingress", "LayoutStage", "RecognitionStage")
# How long a result and its URL live unless the values say otherwise: the service's own default, long enough for a
# client to fetch what a response points at, and within the one-day bucket lifecycle rule (deploy/README.md).
RESULT_TTL_S = 3600

QUANTITY = r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|Ki|Mi|Gi|Ti)?$"


class _Strict(BaseModel):
    # A misspelt value must fail the render, not silently fall back to a default.
    model_config = ConfigDict(extra="forbid", frozen=True)


class PodResources(_Strict):
    """One Ray pod's container requests, equal to its limits: KubeRay derives Ray's CPU, GPU and memory from the
    limits, and equal requests keep the scheduler from packing pods onto nodes that cannot honour them."""

    cpu: str = Field(pattern=QUANTITY)
    memory: str = Field(pattern=QUANTITY)
    gpu: NonNegativeInt = 0


class HeadGroup(_Strict):
    resources: PodResources
    node_selector: dict[str, str] = Field(default_factory=dict)
    tolerations: list[dict[str, Any]] = Field(default_factory=list)


class WorkerGroup(HeadGroup):
    name: str = Field(pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    min_replicas: NonNegativeInt
    max_replicas: PositiveInt
    # Ray node labels (KubeRay passes them to `ray start`); deployments select a group with `label_selector`.
    ray_labels: dict[str, str] = Field(default_factory=dict)
    # Mount the model volume (values `models`) read-only in this group's pods.
    mount_models: bool = False

    @model_validator(mode="after")
    def _bounds_ordered(self) -> WorkerGroup:
        if self.min_replicas > self.max_replicas:
            raise ValueError(f"worker group {self.name}: min_replicas exceeds max_replicas")
        return self


class ModelVolume(_Strict):
    """Pre-downloaded weights on a PersistentVolumeClaim; it must allow ReadOnlyMany (or ReadWriteMany) access,
    since every pod of a group mounts it, on whichever node the pod lands."""

    claim_name: str
    mount_path: str = "/models"


class AuthValues(_Strict):
    """API keys from a Kubernetes Secret the operator creates (never rendered here), mounted read-only into every
    Ray pod, since an ingress replica may land on any of them. Auth is always on in the cluster."""

    secret_name: str = "ocrvl-api-keys"
    # The Secret's data key holding `client-id:key` lines.
    secret_key: str = "keys"
    mount_path: str = "/etc/ocrvl/api-keys"

    @property
    def keys_file(self) -> str:
        return f"{self.mount_path}/{self.secret_key}"


class ResultStoreValues(_Strict):
    """The S3-compatible bucket (AWS S3, MinIO, Ceph RGW, GCS interop) that keeps the images and exports responses
    point at; clients download them from the store through presigned URLs. Credentials come from boto3's chain: the
    operator's Secret (never rendered here) as env in every Ray pod, since an ingress replica may land on any of
    them, or a pod role (IRSA, workload identity), for which the Secret is optional and can be left uncreated."""

    # The application's `storage.s3` section as it is (serve.config.S3StoreConfig: bucket, prefix, endpoint_url,
    # region, addressing_style, presign_endpoint_url), checked with the rest of the app's args by `serve_config`.
    s3: dict[str, Any]
    ttl_s: PositiveInt = RESULT_TTL_S
    # Holds AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.
    secret_name: str = "ocrvl-s3-credentials"


class IngressValues(_Strict):
    host: str
    class_name: str = "nginx"
    # Requests carry base64 files of up to ~140 MB inside JSON.
    max_body_size: str = "200m"


class MonitoringValues(_Strict):
    interval: str = "15s"
    # Labels the Prometheus operator selects PodMonitors by (e.g. kube-prometheus-stack's `release`).
    labels: dict[str, str] = Field(default_factory=dict)


class Values(_Strict):
    name: str = Field(pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    # Relative to the repository root.
    app_config: str
    image: str
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] = "IfNotPresent"
    head: HeadGroup
    worker_groups: list[WorkerGroup] = Field(min_length=1)
    models: ModelVolume | None = None
    auth: AuthValues = AuthValues()
    # Required: S3 bucket names are global, so no default could name a bucket that is the operator's.
    results: ResultStoreValues
    ingress: IngressValues
    monitoring: MonitoringValues = MonitoringValues()
    # Deep-merged into the application's `args` (model paths, batch sizes, ...).
    app_overrides: dict[str, Any] = Field(default_factory=dict)
    # Per deployment name, deep-merged into its entry (num_replicas, autoscaling_config, ray_actor_options, ...).
    deployment_overrides: dict[str, dict[str, Any]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> Values:
        names = [group.name for group in self.worker_groups]
        if len(set(names)) != len(names):
            raise ValueError(f"worker group names repeat: {names}")
        if any(group.mount_models for group in self.worker_groups) and self.models is None:
            raise ValueError("a worker group mounts models, but `models` names no volume")
        unknown = set(self.deployment_overrides) - set(DEPLOYMENT_NAMES)
        if unknown:
            raise ValueError(f"deployment_overrides for unknown deployments {sorted(unknown)}")
        # The head takes no serve traffic (excludeHeadPodFromServeSvc), so some worker must always be up to proxy.
        if all(group.min_replicas == 0 for group in self.worker_groups):
            raise ValueError("every worker group may scale to zero, leaving no pod to serve traffic")
        return self


def load_values(path: Path) -> Values:
    return Values.model_validate(yaml.safe_load(path.read_text()))


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """`base` with `override` laid over it: mappings merge key by key, anything else (lists too) is replaced."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def cluster_args(values: Values) -> dict[str, Any]:
    """What the cluster fixes in the application's `args`, whatever the app config says: auth from the mounted key
    file, and images and exports delivered as URLs into the S3 store, since a local directory is not shared by the
    ingress replicas of different pods."""
    return {
        "auth": {"enabled": True, "keys_env": None, "keys_file": values.auth.keys_file},
        "output": {"images": "url"},
        "storage": {
            "backend": "s3",
            "ttl_s": values.results.ttl_s,
            # Requests reach the pods as plain HTTP, so their own base URL is not the one clients use. Presigned S3
            # URLs point at the store and ignore it; it is here for any ingress-served URL.
            "public_base_url": f"https://{values.ingress.host}",
            "s3": values.results.s3,
        },
    }


def serve_config(values: Values) -> dict[str, Any]:
    """The app config as it runs in the cluster: HTTP on every node's proxy at 0.0.0.0:8000, the values' overrides
    applied, then validated as Ray validates it and as the application validates its `args`."""
    from ray.serve.schema import ServeDeploySchema

    from serve.config import ServiceConfig

    config = yaml.safe_load((REPO / values.app_config).read_text())
    # A proxy on every node, so any pod the serve Service picks can take a request.
    config["proxy_location"] = "EveryNode"
    config["http_options"] = {**config.get("http_options", {}), "host": "0.0.0.0", "port": SERVE_PORT}
    (application,) = config["applications"]  # every app config holds the one `ocrvl` application
    args = deep_merge(application.get("args", {}), cluster_args(values))
    application["args"] = deep_merge(args, values.app_overrides)
    application["deployments"] = [
        deep_merge(deployment, values.deployment_overrides.get(deployment["name"], {}))
        for deployment in application["deployments"]
    ]
    ServeDeploySchema.model_validate(config)
    ServiceConfig.model_validate(application["args"])
    return config


def app_labels(values: Values) -> dict[str, str]:
    """On every object and pod template: the PodMonitor selects pods by these, since KubeRay names each cluster of a
    RayService with a fresh suffix and its own labels would change with every cluster upgrade. KubeRay carries an
    overridden `app.kubernetes.io/name` into its head Service's selector, so overriding its default is safe."""
    return {"app.kubernetes.io/name": APP_NAME, "app.kubernetes.io/instance": values.name}


def container_resources(resources: PodResources) -> dict[str, Any]:
    quantities = {"cpu": resources.cpu, "memory": resources.memory}
    if resources.gpu:
        quantities["nvidia.com/gpu"] = str(resources.gpu)
    return {"requests": quantities, "limits": dict(quantities)}


def pod_template(
    values: Values, group: HeadGroup, container: str, ports: dict[str, int], models: ModelVolume | None
) -> dict[str, Any]:
    # Ray keeps its object store (30% of the pod's memory by default) in /dev/shm; a container's default 64 MiB
    # would push it to disk. Memory-backed, it counts against the memory limit, so it needs no size of its own.
    volumes: list[dict[str, Any]] = [
        {"name": "dshm", "emptyDir": {"medium": "Memory"}},
        {"name": "api-keys", "secret": {"secretName": values.auth.secret_name,
                                        "items": [{"key": values.auth.secret_key, "path": values.auth.secret_key}]}},
    ]
    mounts: list[dict[str, Any]] = [
        {"name": "dshm", "mountPath": "/dev/shm"},
        {"name": "api-keys", "mountPath": values.auth.mount_path, "readOnly": True},
    ]
    if models is not None:
        volumes.append({"name": "models", "persistentVolumeClaim": {"claimName": models.claim_name, "readOnly": True}})
        mounts.append({"name": "models", "mountPath": models.mount_path, "readOnly": True})
    spec: dict[str, Any] = {
        "containers": [
            {
                "name": container,
                "image": values.image,
                "imagePullPolicy": values.image_pull_policy,
                "ports": [{"name": name, "containerPort": port} for name, port in ports.items()],
                "resources": container_resources(group.resources),
                # Optional, so pods still start where a pod role (IRSA, workload identity) stands in for the keys.
                "envFrom": [{"secretRef": {"name": values.results.secret_name, "optional": True}}],
                "volumeMounts": mounts,
            }
        ],
        "volumes": volumes,
    }
    if group.node_selector:
        spec["nodeSelector"] = dict(group.node_selector)
    if group.tolerations:
        spec["tolerations"] = [dict(toleration) for toleration in group.tolerations]
    return {"metadata": {"labels": app_labels(values)}, "spec": spec}


def head_group(values: Values) -> dict[str, Any]:
    return {
        "rayStartParams": {
            # No replica lands on the head: it runs GCS, the Serve controller and the autoscaler, which a busy
            # replica must not starve. Its proxy takes no traffic either (excludeHeadPodFromServeSvc).
            "num-cpus": "0",
            # KubeRay deploys serveConfigV2 through the dashboard, from outside the pod.
            "dashboard-host": "0.0.0.0",
            "metrics-export-port": str(METRICS_PORT),
        },
        "template": pod_template(values, values.head, "ray-head", HEAD_PORTS, models=None),
    }


def worker_group(values: Values, group: WorkerGroup) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "groupName": group.name,
        # The autoscaler owns the count from here on; this is only where it starts.
        "replicas": group.min_replicas,
        "minReplicas": group.min_replicas,
        "maxReplicas": group.max_replicas,
    }
    if group.ray_labels:
        spec["labels"] = dict(group.ray_labels)
    # CPU, GPU and memory come from the container limits; KubeRay passes them to `ray start`.
    spec["rayStartParams"] = {"metrics-export-port": str(METRICS_PORT)}
    models = values.models if group.mount_models else None
    spec["template"] = pod_template(values, group, "ray-worker", WORKER_PORTS, models)
    return spec


def request_timeout_s(config: dict[str, Any]) -> int:
    """The longest request the Serve proxies allow; the ingress timeouts and the upgrade drain follow from it."""
    timeout = config["http_options"].get("request_timeout_s")
    if timeout is None:
        raise ValueError("the app config sets no http_options.request_timeout_s; the manifests derive timeouts from it")
    return int(timeout)


def rayservice(values: Values, config: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayService",
        "metadata": {"name": values.name, "labels": app_labels(values)},
        "spec": {
            # A changed rayClusterConfig starts a new cluster and switches traffic once it serves (zero downtime).
            # serviceUnhealthySecondThreshold / deploymentUnhealthySecondThreshold are deprecated and ignored.
            "upgradeStrategy": {"type": "NewCluster"},
            # An old cluster outlives the switch by the longest request, so requests in flight on it finish
            # (KubeRay's default, 60 s, would cut off a long PDF).
            "rayClusterDeletionDelaySeconds": request_timeout_s(config) + DRAIN_MARGIN_S,
            # The head pod runs GCS and the Serve controller; uploads of 100+ MB should not pass through it.
            "excludeHeadPodFromServeSvc": True,
            "serveConfigV2": dump_yaml(config),
            "rayClusterConfig": {
                "rayVersion": RAY_VERSION,
                "enableInTreeAutoscaling": True,
                # v2 scales worker groups for actors' label selectors (Ingress to the CPU group on the GPU target).
                "autoscalerOptions": {"version": "v2"},
                "headGroupSpec": head_group(values),
                "workerGroupSpecs": [worker_group(values, group) for group in values.worker_groups],
            },
        },
    }


def ingress(values: Values, config: dict[str, Any]) -> dict[str, Any]:
    """External traffic to KubeRay's own `<name>-serve-svc`. No Service of ours: KubeRay repoints that Service at
    the new cluster's proxies when a cluster upgrade is ready, while a Service selecting Ray pods by label would
    reach the old and the still-starting cluster at once."""
    timeout = str(request_timeout_s(config))
    backend = {"service": {"name": f"{values.name}-serve-svc", "port": {"number": SERVE_PORT}}}
    paths = [
        {"path": path, "pathType": "Exact", "backend": backend}
        # The API and its probes; /docs and /openapi.json stay inside the cluster.
        for path in ("/layout-parsing", "/health", "/health/ready")
    ]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {
            "name": values.name,
            "labels": app_labels(values),
            "annotations": {
                "nginx.ingress.kubernetes.io/proxy-body-size": values.ingress.max_body_size,
                # A long PDF takes minutes; nginx's 60 s default would cut it off before the proxy's own deadline.
                "nginx.ingress.kubernetes.io/proxy-read-timeout": timeout,
                "nginx.ingress.kubernetes.io/proxy-send-timeout": timeout,
            },
        },
        "spec": {
            "ingressClassName": values.ingress.class_name,
            "rules": [{"host": values.ingress.host, "http": {"paths": paths}}],
        },
    }


def pod_monitor(values: Values) -> dict[str, Any]:
    """Every Ray pod, head and workers: each node's metrics agent exports the replicas on that node (and the head
    the Serve controller's autoscaling metrics). No Service spans all Ray pods on the metrics port, so a
    ServiceMonitor would need one of its own; a PodMonitor follows autoscaled pods and upgraded clusters as is."""
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PodMonitor",
        "metadata": {"name": values.name, "labels": {**app_labels(values), **values.monitoring.labels}},
        "spec": {
            "selector": {"matchLabels": app_labels(values)},
            "podMetricsEndpoints": [{"port": "metrics", "path": "/metrics", "interval": values.monitoring.interval}],
        },
    }


KUSTOMIZATION = {
    "apiVersion": "kustomize.config.k8s.io/v1beta1",
    "kind": "Kustomization",
    "resources": ["rayservice.yaml", "service.yaml", "monitoring.yaml"],
}


class _Dumper(yaml.SafeDumper):
    # Manifests are read by people and by tools that mishandle YAML anchors; repeat shared values instead.
    def ignore_aliases(self, data: Any) -> bool:
        return True


def _represent_str(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    # serveConfigV2 as a readable block, not one escaped line.
    style = "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_Dumper.add_representer(str, _represent_str)


def dump_yaml(*documents: dict[str, Any]) -> str:
    return yaml.dump_all(documents, Dumper=_Dumper, sort_keys=False, width=120, allow_unicode=True)


def render(values_path: Path) -> dict[str, str]:
    """File name -> text of one target's manifests."""
    values = load_values(values_path)
    config = serve_config(values)
    header = (
        f"# Generated by `python -m deploy.render` from {values_path.relative_to(REPO)} and {values.app_config}.\n"
        "# Do not edit: change those and render again.\n"
    )
    return {
        "rayservice.yaml": header + dump_yaml(rayservice(values, config)),
        "service.yaml": header + dump_yaml(ingress(values, config)),
        "monitoring.yaml": header + dump_yaml(pod_monitor(values)),
        "kustomization.yaml": header + dump_yaml(KUSTOMIZATION),
    }


def render_all() -> dict[Path, str]:
    """Every target's files by their path under deploy/k8s/."""
    return {
        K8S_DIR / values_path.stem / name: text
        for values_path in sorted(VALUES_DIR.glob("*.yaml"))
        for name, text in render(values_path).items()
    }


def stale_files(rendered: dict[Path, str], k8s_dir: Path = K8S_DIR) -> list[str]:
    """Paths under `k8s_dir` that differ from `rendered` (keyed by paths under K8S_DIR), are missing, or belong
    to no target any more."""
    expected = {k8s_dir / path.relative_to(K8S_DIR): text for path, text in rendered.items()}
    present = {path for path in k8s_dir.rglob("*") if path.is_file()}
    differing = {path for path, text in expected.items() if not path.is_file() or path.read_text() != text}
    return sorted(str(path.relative_to(k8s_dir)) for path in differing | (present - set(expected)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.render", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if deploy/k8s/ differs from a fresh render")
    args = parser.parse_args(argv)
    rendered = render_all()
    if args.check:
        stale = stale_files(rendered)
        for path in stale:
            print(f"deploy/k8s/{path} differs from a fresh render; run `python -m deploy.render`", file=sys.stderr)
        return 1 if stale else 0
    # Files of a target whose values are gone would otherwise linger and fail the next --check.
    for path in stale_files(rendered):
        (K8S_DIR / path).unlink(missing_ok=True)
    for directory in K8S_DIR.glob("*/"):
        if not any(directory.iterdir()):
            directory.rmdir()
    for path, text in rendered.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
