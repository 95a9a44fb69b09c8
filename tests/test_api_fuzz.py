"""schemathesis against the live gateway: every operation of /openapi.json, with generated
requests (bounded, derandomized), must answer without a server error and as documented."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import auth

FUZZ_CHECKS = [
    schemathesis.checks.not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
"""What a response must satisfy. Checks that expect generated *valid* requests to succeed do
not apply: a generated dataset or model id names nothing, so those requests are rightly 404/422."""


@pytest.fixture(scope="module")
def fuzz_token(settings):
    from osler.workers.redis_connection import connect
    from osler.workers.tenants import TenantStore

    return TenantStore(connect(settings)).create_token("fuzz")


def test_every_operation_answers_as_documented(live_url, fuzz_token):
    """Each operation in turn (one pytest test: schemathesis' pytest plugin does not load on this
    pytest), at most 6 generated requests each, the same ones every run."""
    schema = schemathesis.openapi.from_url(f"{live_url}/openapi.json")
    failures, operations = [], 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @given(operation.as_strategy())
        @settings(max_examples=6, derandomize=True, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        def run(case):
            case.call_and_validate(headers=auth(fuzz_token), checks=FUZZ_CHECKS)

        try:
            run()
        except Exception as exc:  # collect every operation's failure, then fail once
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}"[:1500])
    assert operations >= 28
    assert failures == []
