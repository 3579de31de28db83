"""Property-based HTTP tests of the running service against service/openapi.yaml.

Bounded: a fixed number of examples per operation and a per-example deadline.
Run against the process alone, and through a deployment's edge when
ACCOUNTSERVICE_EDGE_URL is set (conftest.py).
"""

from __future__ import annotations

from datetime import timedelta

import schemathesis
from conftest import SERVICE_DIR, Endpoint
from hypothesis import HealthCheck, settings

schema = schemathesis.openapi.from_path(SERVICE_DIR / "openapi.yaml")


@schema.parametrize()
@settings(
    max_examples=60,
    deadline=timedelta(seconds=2),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_service_conforms_to_its_openapi_document(case: schemathesis.Case, api: Endpoint) -> None:
    response = case.call_and_validate(base_url=api.base_url, timeout=5)
    assert response.status_code < 500
