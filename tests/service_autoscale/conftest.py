"""One app for the package: the README's embedded service (configs/local.yaml) with both stages handed to Ray
Serve's autoscaler, with delays short enough to watch (loadtest/autoscaling.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from loadtest.autoscaling import STAGE_AUTOSCALING
from loadtest.service import running_service


@pytest.fixture(scope="package")
def app_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_service(tmp_path_factory.mktemp("service-autoscale"), deployment_overrides=STAGE_AUTOSCALING) as url:
        yield url
