"""The served OpenAPI document fuzzed with schemathesis: whatever a client sends to /layout-parsing, valid per the
schema or not, the answer is never a server error, its status is documented, and its body is the contract's
envelope. Bounded and derandomised, so CI runs the same cases every time.

Driven through schemathesis's Python API inside one test (the pytest plugin's fixture loader does not run
under pytest 9)."""

from __future__ import annotations

from collections import Counter

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

pytestmark = pytest.mark.service

EXAMPLES = 400
CHECKS = (not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance)


def test_fuzzed_requests_get_a_documented_4xx_envelope_and_never_a_server_error(service_url):
    operation = schemathesis.openapi.from_url(f"{service_url}/openapi.json")["/layout-parsing"]["POST"]
    statuses: Counter[int] = Counter()

    # Bodies that follow the schema (a `file` no decoder accepts, odd options) and bodies that break it.
    @given(case=operation.as_strategy() | operation.as_strategy(generation_mode=schemathesis.GenerationMode.NEGATIVE))
    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def fuzz(case: schemathesis.Case) -> None:
        response = case.call(base_url=service_url, timeout=60)
        statuses[response.status_code] += 1
        case.validate_response(response, checks=CHECKS)
        body = response.json()
        assert {"logId", "errorCode", "errorMsg"} <= body.keys()
        assert body["errorCode"] == (0 if response.status_code == 200 else response.status_code)

    fuzz()
    assert sum(statuses.values()) >= EXAMPLES and not any(status >= 500 for status in statuses)
