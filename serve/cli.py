"""`ocrvl serve`: start a local Ray instance and deploy a Ray Serve config file, exactly as KubeRay would. (`ocrvl
parse`, the client side, is serve/parse_cli.py.)"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import sys
import threading
import time
from contextlib import ExitStack
from pathlib import Path

import yaml

from serve.local_redis import LocalRedis

DEFAULT_CONFIG = Path("configs/local.yaml")
# Ray's object store lives in /dev/shm and defaults to ~30% of RAM; pages in flight need far less.
DEFAULT_OBJECT_STORE_MB = 1024
DEPLOY_TIMEOUT_S = 300.0
POLL_INTERVAL_S = 0.5
# How often replicas report metrics to the node's agent (Ray's default is 10 s): the shutdown drain and anyone
# watching /metrics see a change within this.
METRICS_REPORT_INTERVAL_MS = 2000


# Ray Serve's HAProxy front (docs/operations.md, "The HTTP front"), wherever the service runs: `ocrvl serve` sets it
# for the Ray instance it starts, and deploy/render.py in every Ray pod.
HAPROXY_FRONT = {
    "RAY_SERVE_ENABLE_HA_PROXY": "1",
    # When every Ingress replica is gone at once (a crash, a node), HAProxy must fail over to its backup server,
    # Ray's proxy actor, which holds requests until the replacements are up. HAProxy marks a dead replica down after
    # 3 refused connections and sends each retry to another server: 3 per replica and one more, so 8 covers two
    # replicas. With HAProxy's default of 3, such a request got a plain-text 500.
    "RAY_SERVE_HAPROXY_RETRIES": "8",
}
# A stopping Ingress replica keeps answering this long, until HAProxy has dropped it. HAProxy runs on the replica's
# own node here and hears of the stop within a fraction of a second; Ray's default (30 s) is for load balancers
# across a network, and would hold every shutdown that long.
LOCAL_INGRESS_DRAIN_S = 2


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def haproxy_front_env() -> dict[str, str]:
    """`HAPROXY_FRONT` for a Ray instance of this machine. HAProxy holds the HTTP port and forwards each request to
    an Ingress replica's own HTTP server, where Ray's proxy actor would take it in Python and pass it on as an actor
    call. Ray reads these variables when its processes start. Its ports default to fixed numbers (9101, 8404, 8500,
    9500), so each instance gets free ones: several share this machine in the tests and benchmarks."""
    return {
        **HAPROXY_FRONT,
        "RAY_SERVE_HAPROXY_METRICS_PORT": str(free_port()),
        "RAY_SERVE_HAPROXY_STATS_PORT": str(free_port()),
        "RAY_SERVE_FALLBACK_PROXY_HTTP_PORT": str(free_port()),
        "RAY_SERVE_FALLBACK_PROXY_GRPC_PORT": str(free_port()),
        "RAY_SERVE_DIRECT_INGRESS_MIN_DRAINING_PERIOD_S": str(LOCAL_INGRESS_DRAIN_S),
    }


def load_deploy_config(path: Path, host: str | None, port: int | None):
    from ray.serve.schema import ServeDeploySchema

    raw = yaml.safe_load(path.read_text())
    http = raw.setdefault("http_options", {})
    if host is not None:
        http["host"] = host
    if port is not None:
        http["port"] = port
    return ServeDeploySchema.model_validate(raw)


def private_redis(schema, joining_cluster: bool) -> list[LocalRedis]:
    """A private Redis for each application that runs jobs or a page cache without naming one (`jobs.redis_url`,
    `page_cache.redis_url` unset), its URL written into the application's args: the jobs' persistent, the cache's
    in memory and bounded. Replicas on other nodes could not reach its socket, so joining a cluster needs a named
    Redis."""
    from serve.config import ServiceConfig

    servers: dict[Path, LocalRedis] = {}
    for app in schema.applications:
        config = ServiceConfig.model_validate(app.args)
        jobs, cache = config.jobs, config.page_cache
        wanted = []
        if jobs.enabled and jobs.redis_url is None:
            wanted.append(("jobs", LocalRedis(Path(jobs.local_redis_dir))))
        if cache.enabled and cache.redis_url is None:
            local = LocalRedis(Path(cache.local_redis_dir), persistent=False, max_memory_mb=cache.local_max_memory_mb)
            wanted.append(("page_cache", local))
        for section, local in wanted:
            if joining_cluster:
                raise RuntimeError(f"application {app.name!r}: {section} on a cluster needs {section}.redis_url")
            server = servers.setdefault(local.directory, local)
            app.args.setdefault(section, {})["redis_url"] = server.url
    return list(servers.values())


def _start_ray(address: str | None, object_store_mb: int, metrics_port: int | None) -> None:
    import ray

    if address:
        ray.init(address=address, namespace="serve")
        return
    # A private single-node instance on loopback; token auth is for clusters, and the dashboard costs memory.
    # "local": without it Ray would join a cluster `ray start` left on this machine instead.
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    ray.init(
        address="local",
        namespace="serve",
        _node_ip_address="127.0.0.1",
        include_dashboard=False,
        object_store_memory=object_store_mb * 1024 * 1024,
        # Prometheus scrapes every replica's metrics here. A taken port kills Ray's agent, so the default is a
        # free one.
        _metrics_export_port=metrics_port or free_port(),
        _system_config={"metrics_report_interval_ms": METRICS_REPORT_INTERVAL_MS},
    )


def _wait_until_running(names: list[str]) -> None:
    from ray import serve

    deadline = time.monotonic() + DEPLOY_TIMEOUT_S
    while time.monotonic() < deadline:
        apps = serve.status().applications
        states = {name: apps[name].status if name in apps else "NOT_STARTED" for name in names}
        failed = {n: apps[n].message for n, s in states.items() if s in ("DEPLOY_FAILED", "UNHEALTHY")}
        if failed:
            raise RuntimeError(f"deployment failed: {failed}")
        if all(s == "RUNNING" for s in states.values()):
            return
        time.sleep(POLL_INTERVAL_S)
    raise TimeoutError(f"applications not running after {DEPLOY_TIMEOUT_S:.0f} s")


def drain(client, schema) -> None:
    """Graceful shutdown: every Ingress replica stops admitting (503, `Retry-After`), and we wait until the
    requests they already took have been answered, at most the longest deadline a request can have."""
    from ray.serve.schema import DeploymentSchema

    from serve.config import ServiceConfig
    from serve.ingress import DRAINING, Ingress

    timeout_s = max(ServiceConfig.model_validate(app.args).deadline.max_s for app in schema.applications)
    for app in schema.applications:
        ingress = next((d for d in app.deployments if d.name == Ingress.name), None)
        if ingress is None:
            ingress = DeploymentSchema(name=Ingress.name)
            app.deployments.append(ingress)
        ingress.user_config = {DRAINING: True}
    client.deploy_apps(schema, _blocking=False)
    _wait_until_running([app.name for app in schema.applications])
    deadline = time.monotonic() + timeout_s
    quiet_reports = 0
    # Two consecutive reports of nothing in flight: one could predate the last request's admission.
    while quiet_reports < 2 and time.monotonic() < deadline:
        time.sleep(METRICS_REPORT_INTERVAL_MS / 1000)
        quiet_reports = quiet_reports + 1 if _requests_in_flight() == 0 else 0


def _requests_in_flight() -> float:
    """Parse requests in flight on every Ingress replica, summed from every live node's metrics export."""
    import ray

    from serve.http_app import PARSE_PATH
    from serve.metrics import HTTP_IN_FLIGHT, RAY_PREFIX, scrape_sum

    return sum(
        scrape_sum(f"http://{node['NodeManagerAddress']}:{node['MetricsExportPort']}/metrics",
                   RAY_PREFIX + HTTP_IN_FLIGHT, endpoint=PARSE_PATH)
        for node in ray.nodes()
        if node["Alive"]
    )


def serve_forever(
    config_path: Path, host: str | None, port: int | None, address: str | None, object_store_mb: int,
    metrics_port: int | None,
) -> int:
    if address is None:
        # Before anything imports Ray Serve, which reads them at import. Set ones win: RAY_SERVE_ENABLE_HA_PROXY=0
        # puts Ray's proxy actor back in front. A joined cluster has its own (KubeRay: deploy/render.py).
        for name, value in haproxy_front_env().items():
            os.environ.setdefault(name, value)
    schema = load_deploy_config(config_path, host, port)
    stop = threading.Event()
    with ExitStack() as running:
        try:
            for server in private_redis(schema, joining_cluster=address is not None):
                running.enter_context(server)
                threading.Thread(target=server.keep_running, args=(stop,), daemon=True).start()
        except RuntimeError as exc:
            print(f"ocrvl: {exc}", file=sys.stderr, flush=True)
            return 1
        return _serve(schema, address, object_store_mb, metrics_port, stop)


def _serve(schema, address: str | None, object_store_mb: int, metrics_port: int | None, stop: threading.Event) -> int:
    import ray
    from ray import serve
    from ray.serve._private import api as serve_api
    from ray.serve.config import gRPCOptions

    _start_ray(address, object_store_mb, metrics_port)
    client = serve_api.serve_start(
        http_options=schema.http_options.model_dump(),
        proxy_location=schema.proxy_location,
        grpc_options=gRPCOptions(**schema.grpc_options.model_dump()),
    )
    client.deploy_apps(schema, _blocking=False)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    try:
        _wait_until_running([app.name for app in schema.applications])
        print(f"ocrvl: serving on http://{schema.http_options.host}:{schema.http_options.port}", flush=True)
        for node in ray.nodes():
            print(f"ocrvl: metrics on http://{node['NodeManagerAddress']}:{node['MetricsExportPort']}/metrics", flush=True)
        stop.wait()
        print("ocrvl: draining", flush=True)
        drain(client, schema)
        return 0
    except (RuntimeError, TimeoutError) as exc:
        print(f"ocrvl: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        serve.shutdown()
        ray.shutdown()
        # The private Redis stops after the replicas that use it (ExitStack in serve_forever).
        stop.set()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ocrvl", description="PaddleOCR-VL document-parsing service")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("serve", help="start the Ray Serve application of a config file")
    run.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="Ray Serve config file (default: %(default)s)")
    run.add_argument("--port", type=int, help="HTTP port (overrides http_options.port)")
    run.add_argument("--host", help="HTTP host (overrides http_options.host)")
    run.add_argument("--address", help="join an existing Ray cluster instead of starting a local one")
    run.add_argument("--object-store-mb", type=int, default=DEFAULT_OBJECT_STORE_MB)
    run.add_argument("--metrics-port", type=int, help="Ray's Prometheus metrics export port (default: a free one)")
    from serve import parse_cli

    parse = commands.add_parser("parse", help="parse documents with a running service (serve/parse_cli.py)",
                                description=parse_cli.__doc__.split("\n\n")[0])
    parse_cli.add_arguments(parse)
    args = parser.parse_args(argv)
    if args.command == "parse":
        return parse_cli.run(args)
    return serve_forever(args.config, args.host, args.port, args.address, args.object_store_mb, args.metrics_port)


if __name__ == "__main__":
    sys.exit(main())
