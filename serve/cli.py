"""`ocrvl serve`: start a local Ray instance and deploy a Ray Serve config file, exactly as KubeRay would."""

from __future__ import annotations

import argparse
import os
import signal
import socket
import sys
import threading
import time
from pathlib import Path

import yaml

DEFAULT_CONFIG = Path("configs/local.yaml")
# Ray's object store lives in /dev/shm and defaults to ~30% of RAM; pages in flight need far less.
DEFAULT_OBJECT_STORE_MB = 1024
DEPLOY_TIMEOUT_S = 300.0
POLL_INTERVAL_S = 0.5


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def load_deploy_config(path: Path, host: str | None, port: int | None):
    from ray.serve.schema import ServeDeploySchema

    raw = yaml.safe_load(path.read_text())
    http = raw.setdefault("http_options", {})
    if host is not None:
        http["host"] = host
    if port is not None:
        http["port"] = port
    return ServeDeploySchema.model_validate(raw)


def _start_ray(address: str | None, object_store_mb: int) -> None:
    import ray

    if address:
        ray.init(address=address, namespace="serve")
        return
    # A private single-node instance on loopback; token auth is for clusters, and the dashboard costs memory.
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    ray.init(
        namespace="serve",
        _node_ip_address="127.0.0.1",
        include_dashboard=False,
        object_store_memory=object_store_mb * 1024 * 1024,
        # A taken metrics port kills Ray's agent, so pick a free one.
        _metrics_export_port=free_port(),
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


def serve_forever(config_path: Path, host: str | None, port: int | None, address: str | None, object_store_mb: int) -> int:
    import ray
    from ray import serve
    from ray.serve._private import api as serve_api
    from ray.serve.config import gRPCOptions

    schema = load_deploy_config(config_path, host, port)
    _start_ray(address, object_store_mb)
    client = serve_api.serve_start(
        http_options=schema.http_options.model_dump(),
        proxy_location=schema.proxy_location,
        grpc_options=gRPCOptions(**schema.grpc_options.model_dump()),
    )
    client.deploy_apps(schema, _blocking=False)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    try:
        _wait_until_running([app.name for app in schema.applications])
        print(f"ocrvl: serving on http://{schema.http_options.host}:{schema.http_options.port}", flush=True)
        stop.wait()
        return 0
    except (RuntimeError, TimeoutError) as exc:
        print(f"ocrvl: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        serve.shutdown()
        ray.shutdown()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ocrvl", description="PaddleOCR-VL document-parsing service")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("serve", help="start the Ray Serve application of a config file")
    run.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="Ray Serve config file (default: %(default)s)")
    run.add_argument("--port", type=int, help="HTTP port (overrides http_options.port)")
    run.add_argument("--host", help="HTTP host (overrides http_options.host)")
    run.add_argument("--address", help="join an existing Ray cluster instead of starting a local one")
    run.add_argument("--object-store-mb", type=int, default=DEFAULT_OBJECT_STORE_MB)
    args = parser.parse_args(argv)
    return serve_forever(args.config, args.host, args.port, args.address, args.object_store_mb)


if __name__ == "__main__":
    sys.exit(main())
