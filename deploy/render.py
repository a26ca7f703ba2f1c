"""Renders the KubeRay manifests of every target in deploy/values/ into deploy/k8s/<target>/.

    .venv/bin/python -m deploy.render           # write deploy/k8s/*/
    .venv/bin/python -m deploy.render --check   # exit 1 if the checked-in files differ from a fresh render (CI)

A target is an app config (configs/*.yaml, the Ray Serve config format the service runs locally) plus a small
typed values file: image, model volume, Ray pod groups and their resources, result bucket, the jobs' Redis, and
overrides of the application's `args` and deployments. This stands in for kustomize overlays because a RayService
carries the Serve config as a YAML *string* (`serveConfigV2`), which kustomize cannot patch field by field.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, PositiveInt, model_validator

from serve.cli import HAPROXY_FRONT

REPO = Path(__file__).resolve().parents[1]
VALUES_DIR = REPO / "deploy" / "values"
K8S_DIR = REPO / "deploy" / "k8s"

RAY_VERSION = "2.60.0"
# KubeRay's serve Service targets the head container's port named `serve`, and its readiness probe on worker
# pods asks the node's Serve front (HAProxy, `HAPROXY_FRONT`) on 8000; Ray's metrics agent exports on 8080 in KubeRay
# pods. The app configs use 8080 for HTTP locally, so the renderer moves HTTP to 8000.
SERVE_PORT = 8000
METRICS_PORT = 8080
HEAD_PORTS = {"gcs": 6379, "dashboard": 8265, "client": 10001, "serve": SERVE_PORT, "metrics": METRICS_PORT}
# Workers run a Serve front (HAProxy; proxy_location: EveryNode) and a metrics agent; GCS, dashboard and client are
# head-only.
WORKER_PORTS = {"serve": SERVE_PORT, "metrics": METRICS_PORT}
APP_NAME = "ocrvl"
# Added to the proxies' request timeout before KubeRay deletes an old cluster after an upgrade.
DRAIN_MARGIN_S = 60
DEPLOYMENT_NAMES = ("Ingress", "LayoutStage", "RecognitionStage")
# How long a result and its URL live unless the values say otherwise: the service's own default, long enough for a
# client to fetch what a response points at, and within the one-day bucket lifecycle rule (deploy/README.md).
RESULT_TTL_S = 3600
# The Job API's paths (serve/http_app.py JOBS_PATH), routed by the Ingress when the application runs jobs.
JOBS_PATH = "/api/v2/ocr/jobs"

# The jobs' Redis (`redis.yaml`).
REDIS_PORT = 6379
REDIS_DB = 0
# The official image's `redis` user and group: the pod runs as them, and its claim is made writable to them.
REDIS_UID = 999
# The official image's working and data directory.
REDIS_DATA_DIR = "/data"
# Redis refuses writes (`noeviction`) beyond this share of its memory limit instead of being OOM-killed, which with
# a large append-only file would become a crash loop (each start loads it again). The rest is for what Redis holds
# beside the data: the copy-on-write pages of an AOF rewrite's fork, reply buffers (a job's pages are read in one
# reply), allocator fragmentation.
REDIS_MAXMEMORY_SHARE = 0.5
# The page cache's Redis keeps nothing on disk and forks nothing, so more of its memory limit can hold entries.
CACHE_MAXMEMORY_SHARE = 0.75
# Probes: a Redis stalled on a slow volume for a few seconds is not dead.
REDIS_PROBE_PERIOD_S = 10
REDIS_PROBE_TIMEOUT_S = 5

QUANTITY = r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|Ki|Mi|Gi|Ti)?$"


class _Strict(BaseModel):
    # A misspelt value must fail the render, not silently fall back to a default.
    model_config = ConfigDict(extra="forbid", frozen=True)


class Resources(_Strict):
    """A container's requests, equal to its limits: equal requests keep the scheduler from packing pods onto nodes
    that cannot honour them, and make the pod the last to be evicted under node pressure."""

    cpu: str = Field(pattern=QUANTITY)
    memory: str = Field(pattern=QUANTITY)

    def quantities(self) -> dict[str, str]:
        return {"cpu": self.cpu, "memory": self.memory}


class PodResources(Resources):
    """One Ray pod's container; KubeRay derives Ray's CPU, GPU and memory from the limits."""

    gpu: NonNegativeInt = 0

    def quantities(self) -> dict[str, str]:
        quantities = super().quantities()
        if self.gpu:
            quantities["nvidia.com/gpu"] = str(self.gpu)
        return quantities


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


class RedisValues(_Strict):
    """The Redis every ingress replica keeps jobs in (serve/jobs/records.py): one pod of the official image with its
    append-only file on a PersistentVolumeClaim, rendered when the application runs jobs, unless `external_url`
    names a Redis of the operator's (a managed one), in which case nothing of Redis is rendered."""

    external_url: str | None = Field(default=None, pattern=r"^(rediss?|unix)://")
    # A 7.x line; its patch releases come with the tag. A full reference, so a mirror registry can stand in.
    image: str = "redis:7.4"
    # Job records and every recorded page are kept `jobs.record_ttl_s` (a day); one page's JSON is a few KB to some
    # 100 KB. Redis takes REDIS_MAXMEMORY_SHARE of the memory for data (deploy/README.md, "Jobs' Redis").
    resources: Resources = Resources(cpu="1", memory="2Gi")
    # The append-only file grows to about twice the data between rewrites, and a rewrite writes the next one beside
    # it: leave room for three times the data.
    storage: str = Field(default="10Gi", pattern=QUANTITY)
    # None: the cluster's default StorageClass.
    storage_class_name: str | None = None


class JobsValues(_Strict):
    redis: RedisValues = RedisValues()


class CacheRedisValues(_Strict):
    """The Redis of the page cache (serve/page_cache.py), shared by every ingress replica: one pod of the official
    image, nothing on disk, forgetting the least recently used pages when full. Rendered when the application runs
    the page cache, unless `external_url` names a Redis of the operator's. Never the jobs' Redis: evicting there
    would lose jobs."""

    external_url: str | None = Field(default=None, pattern=r"^(rediss?|unix)://")
    image: str = "redis:7.4"
    # A cached page is its JSON, a few KB to some 100 KB: 1.5 GB of entries hold tens of thousands of pages.
    resources: Resources = Resources(cpu="1", memory="2Gi")


class PageCacheValues(_Strict):
    redis: CacheRedisValues = CacheRedisValues()


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
    # Whether jobs run is the app config's (or app_overrides') `jobs.enabled`; this is where their Redis is.
    jobs: JobsValues = JobsValues()
    # Whether the page cache runs is the app config's (or app_overrides') `page_cache.enabled`; this is its Redis.
    page_cache: PageCacheValues = PageCacheValues()
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
        # One place says where the jobs' Redis is, so the rendered one is never left running unused.
        if "redis_url" in self.app_overrides.get("jobs", {}):
            raise ValueError("app_overrides names jobs.redis_url; set jobs.redis.external_url in the values instead")
        if "redis_url" in self.app_overrides.get("page_cache", {}):
            raise ValueError("app_overrides names page_cache.redis_url; set page_cache.redis.external_url in the "
                             "values instead")
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


def jobs_enabled(args: dict[str, Any]) -> bool:
    """Whether an application with these `args` runs the Job API."""
    from serve.config import JobsConfig

    return JobsConfig.model_validate(args.get("jobs", {})).enabled


def quotas_enabled(args: dict[str, Any]) -> bool:
    from serve.config import QuotaConfig

    return QuotaConfig.model_validate(args.get("quotas", {})).enabled


def page_cache_enabled(args: dict[str, Any]) -> bool:
    from serve.config import PageCacheConfig

    return PageCacheConfig.model_validate(args.get("page_cache", {})).enabled


@dataclass(frozen=True)
class RedisRole:
    """What a rendered Redis is for: it names the objects (`<release>-<suffix>`) and labels its pod."""

    suffix: str
    component: str


JOBS_REDIS = RedisRole("redis", "jobs-store")
CACHE_REDIS = RedisRole("page-cache", "page-cache")


def redis_name(values: Values, role: RedisRole) -> str:
    """The Redis's workload, its Service and its NetworkPolicy."""
    return f"{values.name}-{role.suffix}"


def rendered_redis_url(values: Values, role: RedisRole) -> str:
    """The rendered Service, by its short name, which resolves in the namespace the manifests are applied to (they
    name none)."""
    return f"redis://{redis_name(values, role)}:{REDIS_PORT}/{REDIS_DB}"


def jobs_redis_url(values: Values) -> str:
    """Where the ingress replicas reach the jobs' Redis: the operator's, or the rendered one."""
    return values.jobs.redis.external_url or rendered_redis_url(values, JOBS_REDIS)


def cache_redis_url(values: Values) -> str:
    """Where the ingress replicas reach the page cache's Redis: the operator's, or the rendered one."""
    return values.page_cache.redis.external_url or rendered_redis_url(values, CACHE_REDIS)


def renders_redis(values: Values, args: dict[str, Any]) -> bool:
    """Whether the manifests include the jobs' Redis, for an application with these `args`."""
    return jobs_enabled(args) and values.jobs.redis.external_url is None


def renders_cache_redis(values: Values, args: dict[str, Any]) -> bool:
    """Whether the manifests include the page cache's Redis, for an application with these `args`."""
    return page_cache_enabled(args) and values.page_cache.redis.external_url is None


def cluster_args(values: Values, args: dict[str, Any]) -> dict[str, Any]:
    """What the cluster fixes in the application's `args` (as the app config and the values' overrides give them):
    auth from the mounted key file; images and exports delivered as URLs into the S3 store, since a local directory
    is not shared by the ingress replicas of different pods; and with jobs, the one Redis all replicas share, which
    quotas use too (under their own key prefix) unless app_overrides names theirs; with the page cache, its own
    Redis."""
    fixed: dict[str, Any] = {
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
    if jobs_enabled(args):
        fixed["jobs"] = {"redis_url": jobs_redis_url(values)}
        if quotas_enabled(args):
            fixed["quotas"] = {"redis_url": jobs_redis_url(values)}
    if page_cache_enabled(args):
        fixed["page_cache"] = {"redis_url": cache_redis_url(values)}
    return fixed


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
    args = application.get("args", {})
    fixed = cluster_args(values, deep_merge(args, values.app_overrides))
    application["args"] = deep_merge(deep_merge(args, fixed), values.app_overrides)
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


def application_args(config: dict[str, Any]) -> dict[str, Any]:
    (application,) = config["applications"]
    return application["args"]


def container_resources(resources: Resources) -> dict[str, Any]:
    quantities = resources.quantities()
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
                # Ray Serve's HAProxy front, as `ocrvl serve` runs it on one machine: HAProxy holds the serve port,
                # forwards to the Ingress replicas' own HTTP servers, and answers the probes' `/-/healthz` itself.
                # Ray's other defaults suit a pod: its fixed ports are free there, and a stopping Ingress replica
                # keeps answering for 30 s while the HAProxies of the other pods drop it.
                "env": [{"name": name, "value": value} for name, value in HAPROXY_FRONT.items()],
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
    if jobs_enabled(application_args(config)):
        # Submit at the path itself, status, batches and cancelling below it.
        paths.append({"path": JOBS_PATH, "pathType": "Prefix", "backend": backend})
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


def redis_labels(values: Values, role: RedisRole) -> dict[str, str]:
    """A Redis pod and its objects. Not the Ray pods' `app_labels`: the PodMonitor and the NetworkPolicy's admitted
    clients select those, and Redis is neither."""
    return {"app.kubernetes.io/name": "redis", "app.kubernetes.io/instance": values.name,
            "app.kubernetes.io/component": role.component, "app.kubernetes.io/part-of": APP_NAME}


def memory_bytes(quantity: str) -> int:
    """A Kubernetes memory quantity (`2Gi`, `512M`, `1.5Gi`) in bytes."""
    units = {"": 1, "m": 10**-3, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12,
             "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}
    number = quantity.rstrip("mkMGTi")
    return int(float(number) * units[quantity[len(number):]])


def redis_server_args(redis: RedisValues) -> list[str]:
    maxmemory = int(memory_bytes(redis.resources.memory) * REDIS_MAXMEMORY_SHARE)
    return [
        "redis-server",
        "--port", str(REDIS_PORT),
        "--dir", REDIS_DATA_DIR,
        # Every write is in the append-only file, and synced to the volume, before Redis answers (as the local
        # Redis of serve/local_redis.py): a job whose submission was answered, or a page recorded, survives the
        # node's crash too, which the Job API's "every page exactly once" relies on. `everysec` would lose up to a
        # second of them. The cost is small here: a few writes per page and lease renewal, and Redis syncs all the
        # writes of one event-loop turn at once.
        "--appendonly", "yes",
        "--appendfsync", "always",
        # The AOF is the persistence; RDB snapshots would only fork and rewrite the whole data set again.
        "--save", "",
        "--maxmemory", str(maxmemory),
        # Evicting a key would silently lose a job or a lease; refused writes fail the call that made them.
        "--maxmemory-policy", "noeviction",
        # No password: the NetworkPolicy admits only this release's Ray pods. Protected mode would refuse every
        # remote client of a passwordless Redis; the official image builds it off, said here so as not to rely on it.
        "--protected-mode", "no",
    ]


def cache_redis_args(redis: CacheRedisValues) -> list[str]:
    maxmemory = int(memory_bytes(redis.resources.memory) * CACHE_MAXMEMORY_SHARE)
    return [
        "redis-server",
        "--port", str(REDIS_PORT),
        # A cache: a restart empties it, and the next request of each page reads it again.
        "--appendonly", "no",
        "--save", "",
        "--maxmemory", str(maxmemory),
        # Full, it forgets the pages least recently asked for, never refuses a write.
        "--maxmemory-policy", "allkeys-lru",
        "--protected-mode", "no",
    ]


def redis_probe(accepted: str) -> dict[str, Any]:
    """A `redis-cli ping` whose reply matches `accepted`: redis-cli exits 0 on an error reply too."""
    return {
        "exec": {"command": ["sh", "-c", f"redis-cli -p {REDIS_PORT} ping 2>&1 | grep -qE '{accepted}'"]},
        "periodSeconds": REDIS_PROBE_PERIOD_S,
        "timeoutSeconds": REDIS_PROBE_TIMEOUT_S,
    }


def redis_container(image: str, args: list[str], resources: Resources, alive: str) -> dict[str, Any]:
    """A Redis container of the official image, without privileges, writing nothing outside a mounted volume;
    ready once it answers PONG, alive while its answer matches `alive`."""
    return {
        "name": "redis",
        "image": image,
        "args": args,
        "ports": [{"name": "redis", "containerPort": REDIS_PORT}],
        "resources": container_resources(resources),
        "readinessProbe": redis_probe("^PONG"),
        "livenessProbe": redis_probe(alive),
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
    }


def redis_pod(labels: dict[str, str], container: dict[str, Any], **security: Any) -> dict[str, Any]:
    """The pod template of a Redis: the image's `redis` user, `security` added to its security context."""
    return {
        "metadata": {"labels": labels},
        "spec": {
            # Redis never talks to the API server.
            "automountServiceAccountToken": False,
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": REDIS_UID,
                "runAsGroup": REDIS_UID,
                **security,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "containers": [container],
        },
    }


def redis_statefulset(values: Values) -> dict[str, Any]:
    redis = values.jobs.redis
    labels = redis_labels(values, JOBS_REDIS)
    claim: dict[str, Any] = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": redis.storage}}}
    if redis.storage_class_name is not None:
        claim["storageClassName"] = redis.storage_class_name
    # Serves only once the append-only file is loaded; alive while loading it (LOADING), however long that takes.
    container = redis_container(redis.image, redis_server_args(redis), redis.resources, alive="^(PONG|LOADING)")
    container["volumeMounts"] = [{"name": "data", "mountPath": REDIS_DATA_DIR}]
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": redis_name(values, JOBS_REDIS), "labels": labels},
        "spec": {
            # One Redis, unreplicated: a restart keeps everything (append-only file on the claim), and jobs wait
            # out the seconds it takes; the ingress replicas' Redis calls fail meanwhile rather than hang.
            "replicas": 1,
            # StatefulSets name a governing Service; per-pod DNS names are not needed, so it is the ClusterIP one.
            "serviceName": redis_name(values, JOBS_REDIS),
            "selector": {"matchLabels": labels},
            # fsGroup makes the claim writable by the pod's group; the recursive chown only when the root differs.
            "template": redis_pod(labels, container, fsGroup=REDIS_UID, fsGroupChangePolicy="OnRootMismatch"),
            # Kept when the StatefulSet is deleted (the default retention), so jobs outlive a re-install.
            "volumeClaimTemplates": [{"metadata": {"name": "data", "labels": labels}, "spec": claim}],
        },
    }


def cache_redis_deployment(values: Values) -> dict[str, Any]:
    redis = values.page_cache.redis
    labels = redis_labels(values, CACHE_REDIS)
    container = redis_container(redis.image, cache_redis_args(redis), redis.resources, alive="^PONG")
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": redis_name(values, CACHE_REDIS), "labels": labels},
        "spec": {
            # One pod: while it restarts, cache lookups fail and count as misses (serve/page_cache.py), so pages are
            # read by the stages as if it were off.
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": redis_pod(labels, container),
        },
    }


def redis_service(values: Values, role: RedisRole) -> dict[str, Any]:
    # ClusterIP, not headless: the address in the app's `redis_url` stays the same when the pod comes back elsewhere.
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": redis_name(values, role), "labels": redis_labels(values, role)},
        "spec": {
            "type": "ClusterIP",
            "selector": redis_labels(values, role),
            "ports": [{"name": "redis", "port": REDIS_PORT, "targetPort": "redis", "protocol": "TCP"}],
        },
    }


def redis_network_policy(values: Values, role: RedisRole) -> dict[str, Any]:
    """Redis runs without a password, so only the Ray pods of this release (head and workers, of every cluster a
    RayService upgrade starts: they all carry `app_labels`) may connect; everything else is refused."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": redis_name(values, role), "labels": redis_labels(values, role)},
        "spec": {
            "podSelector": {"matchLabels": redis_labels(values, role)},
            "policyTypes": ["Ingress"],
            "ingress": [{
                "from": [{"podSelector": {"matchLabels": app_labels(values)}}],
                "ports": [{"protocol": "TCP", "port": REDIS_PORT}],
            }],
        },
    }


def kustomization(resources: list[str]) -> dict[str, Any]:
    return {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization", "resources": resources}


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
    return render_values(load_values(values_path), str(values_path.relative_to(REPO)))


def render_values(values: Values, source: str) -> dict[str, str]:
    """File name -> text of the manifests of `values`, read from the file `source`."""
    config = serve_config(values)
    header = (
        f"# Generated by `python -m deploy.render` from {source} and {values.app_config}.\n"
        "# Do not edit: change those and render again.\n"
    )
    documents = {
        "rayservice.yaml": [rayservice(values, config)],
        "service.yaml": [ingress(values, config)],
        "monitoring.yaml": [pod_monitor(values)],
    }
    args = application_args(config)
    if renders_redis(values, args):
        documents["redis.yaml"] = [redis_statefulset(values), redis_service(values, JOBS_REDIS),
                                   redis_network_policy(values, JOBS_REDIS)]
    if renders_cache_redis(values, args):
        documents["page-cache.yaml"] = [cache_redis_deployment(values), redis_service(values, CACHE_REDIS),
                                        redis_network_policy(values, CACHE_REDIS)]
    documents["kustomization.yaml"] = [kustomization(list(documents))]
    return {name: header + dump_yaml(*objects) for name, objects in documents.items()}


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
