"""Property-based HTTP tests of the running service against service/openapi.yaml.

Bounded: a fixed number of examples per operation and a per-example deadline.
"""

from __future__ import annotations

from datetime import timedelta

import schemathesis
from conftest import SERVICE_DIR, Service
from hypothesis import HealthCheck, settings

schema = schemathesis.openapi.from_path(SERVICE_DIR / "openapi.yaml")


@schema.parametrize()
@settings(
    max_examples=60,
    deadline=timedelta(seconds=2),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_service_conforms_to_its_openapi_document(
    case: schemathesis.Case, running_service: Service
) -> None:
    response = case.call_and_validate(base_url=running_service.base_url, timeout=5)
    assert response.status_code < 500
