"""A real moto S3 server (moto[server]'s standalone `moto_server`) on a free loopback port, as a process of its own.

The S3 store speaks to it over HTTP exactly as it speaks to AWS S3 or MinIO: same boto3 client, same signing, same
wire; nothing is patched in the test process.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from serve.cli import free_port

# moto imports Flask and every AWS service model it knows: seconds on a busy machine.
START_TIMEOUT_S = 60
POLL_INTERVAL_S = 0.1
# Any non-empty values do: moto accepts every key, and no request leaves the machine.
DUMMY_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def moto_server_binary() -> Path:
    """The `moto_server` of the interpreter's environment (moto[server] is a test dependency, see pyproject.toml)."""
    binary = Path(sys.executable).parent / "moto_server"
    if not binary.exists():
        pytest.fail(f"{binary} missing: install the test extras (pip install -e '.[test]')")
    return binary


@contextmanager
def running_moto() -> Iterator[str]:
    """Starts a throwaway moto S3 server and yields its endpoint URL; stops it on exit."""
    port = free_port()
    process = subprocess.Popen([str(moto_server_binary()), "-H", "127.0.0.1", "-p", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                httpx.get(endpoint, timeout=POLL_INTERVAL_S * 10)
                break
            except httpx.TransportError:
                assert process.poll() is None and time.monotonic() < deadline, "moto_server did not start"
                time.sleep(POLL_INTERVAL_S)
        yield endpoint
    finally:
        process.terminate()
        process.wait(timeout=START_TIMEOUT_S)


def use_dummy_credentials(monkeypatch: pytest.MonkeyPatch, config_dir: Path) -> None:
    """boto3's chain finds the dummy keys in the environment, and nothing of the machine's own AWS setup (profiles,
    config files, instance metadata)."""
    for name, value in DUMMY_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_REGION", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config_dir / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(config_dir / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
