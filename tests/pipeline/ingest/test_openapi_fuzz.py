"""Fuzz the running edge from its own /openapi.json: no 5xx, every answer as documented, every
error in the one JSON shape. Bounded: a few dozen examples per operation, well under a minute."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from pipeline.bus import Streams
from pipeline.ingest._openapi import openapi_document
from pipeline.natsd import NatsServer

from .support import Ingest, make_settings

MAX_EXAMPLES = 15


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory,
           nats_server: NatsServer) -> Iterator[Ingest]:
    tmp = tmp_path_factory.mktemp("fuzz")
    server = Ingest(make_settings(tmp, nats_server.url), Streams.prefixed("fuzz")).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def auth(fuzzed: Ingest) -> str:
    return "Basic " + base64.b64encode(f"{fuzzed.key('shop')}:".encode()).decode()


@schemathesis.check
def json_error_shape(ctx: Any, response: Any, case: Any) -> bool | None:
    if response.status_code >= 400:
        body = response.json()
        assert isinstance(body, dict), body
        for field in ("code", "message", "hint"):
            assert isinstance(body.get(field), str) and body[field], body
    return None


# The document the server serves (a test below checks they are the same); loaded here so the
# cases exist at collection time.
schema = schemathesis.openapi.from_dict(openapi_document())


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None,
          suppress_health_check=list(HealthCheck))
def test_openapi_fuzz(case: Any, auth: str, fuzzed: Ingest) -> None:
    case.call_and_validate(
        base_url=fuzzed.url, headers={"Authorization": auth}, timeout=10,
        checks=[not_a_server_error, status_code_conformance, content_type_conformance,
                response_headers_conformance, response_schema_conformance, json_error_shape])


def test_openapi_lists_every_route_and_error(fuzzed: Ingest) -> None:
    doc = fuzzed.http.get(fuzzed.url + "/openapi.json").json()
    assert doc == openapi_document()
    assert set(doc["paths"]) == {
        "/v1/batch", "/v1/track", "/v1/identify", "/v1/page", "/v1/screen", "/v1/group",
        "/v1/alias", "/livez", "/readyz", "/metrics", "/openapi.json"}
    batch = doc["paths"]["/v1/batch"]["post"]["responses"]
    assert set(batch) == {"200", "400", "401", "403", "408", "413", "415", "429", "500", "503"}
    assert "Retry-After" in batch["429"]["headers"] and "Retry-After" in batch["503"]["headers"]
