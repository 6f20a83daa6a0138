"""The OpenAPI 3.1 document of the edge, served at ``/openapi.json``.

Built from the same tables the handlers use (:data:`ERROR_CODES`, the message types), so the
document cannot forget an endpoint or an error: a test fuzzes the server against it.
"""

from __future__ import annotations

from typing import Any

from pipeline.ingest._errors import ERROR_CODES
from pipeline.ingest._syntax import MAX_JSON_DEPTH
from warehouse.segment import MESSAGE_TYPES

SINGLE_TYPES = tuple(sorted(MESSAGE_TYPES))
_ERROR_TEXT = {
    400: "Malformed JSON, nested too deeply, not a batch, bad gzip, bad sentAt, or (single "
         "calls) an invalid event",
    401: "No write key, or an unknown or revoked one",
    403: "The write key belongs to another app than the app_id sent",
    404: "No such endpoint",
    405: "Method not allowed on this endpoint",
    408: "The body did not arrive in time",
    413: "Body over the batch limit (compressed or inflated), or (single calls) event over "
         "the event limit",
    415: "Content-Encoding other than gzip or identity",
    429: "The write key's event rate limit; see Retry-After",
    500: "An unexpected error (logged with its traceback)",
    503: "NATS unavailable, the PubAck did not arrive in time, the stream is full, the key "
         "store is unreadable, or the server is shutting down; see Retry-After",
}
_RETRY_AFTER = {"Retry-After": {"description": "seconds to wait before retrying",
                                "schema": {"type": "integer", "minimum": 0}}}
_INGEST_ERRORS = (400, 401, 403, 408, 413, 415, 429, 500, 503)


def _error(status: int) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": _ERROR_TEXT[status],
        "content": {"application/json": {"schema": {
            "allOf": [{"$ref": "#/components/schemas/Error"}],
            "properties": {"code": {"enum": list(ERROR_CODES[status])}},
        }}},
    }
    if status in (429, 503):
        response["headers"] = _RETRY_AFTER
    return response


def _ingest_op(summary: str, body_schema: str, op_id: str) -> dict[str, Any]:
    responses: dict[str, Any] = {"200": {
        "description": "Every event has a result; accepted ones are durably in the stream",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Results"}}},
    }}
    responses.update({str(s): _error(s) for s in _INGEST_ERRORS})
    return {"post": {
        "operationId": op_id,
        "summary": summary,
        "security": [{"basic": []}, {"bearer": []}, {}],
        "parameters": [
            {"name": "Content-Encoding", "in": "header", "required": False,
             "schema": {"type": "string", "enum": ["gzip", "identity"]}},
            {"name": "X-Causality-App", "in": "header", "required": False,
             "description": "the app the events are for; must be the write key's app",
             "schema": {"type": "string"}},
        ],
        "requestBody": {"required": True, "content": {
            "application/json": {"schema": {"$ref": f"#/components/schemas/{body_schema}"}},
        }},
        "responses": responses,
    }}


def _probe(summary: str, op_id: str, ok: dict[str, Any], fails: bool) -> dict[str, Any]:
    responses: dict[str, Any] = {"200": ok}
    if fails:  # pipeline.probes: the error shape with the probe's status
        responses["503"] = _error(503)
        responses["503"]["description"] = "Draining, or NATS or the stream unreachable"
        schema = responses["503"]["content"]["application/json"]["schema"]
        schema["allOf"].append({"$ref": "#/components/schemas/Probe"})
    return {"get": {"operationId": op_id, "summary": summary, "responses": responses}}


def _schemas() -> dict[str, Any]:
    nullable_str = {"type": ["string", "null"]}
    event = {
        "type": "object",
        "description": "A Segment Spec message; unknown fields are accepted and ignored",
        "properties": {
            "type": {"type": "string", "enum": list(SINGLE_TYPES)},
            "event": {"type": "string", "description": "track: the event name"},
            "name": {"type": "string", "description": "page/screen name"},
            "userId": nullable_str, "anonymousId": nullable_str,
            "messageId": {"type": "string", "description": "the event id; a hash if absent"},
            "timestamp": {"type": "string", "format": "date-time"},
            "sentAt": {"type": "string", "format": "date-time"},
            "category": {"type": "string", "description": "Causality extension"},
            "sessionId": {"type": "string"},
            "properties": {"type": "object"}, "traits": {"type": "object"},
            "context": {"type": "object"},
            "groupId": {"type": "string"}, "previousId": {"type": "string"},
            "app_id": {"type": "string", "description": "optional; must match the key's app"},
        },
    }
    return {
        "Event": event,
        "SingleEvent": {"allOf": [{"$ref": "#/components/schemas/Event"}], "properties": {
            "writeKey": {"type": "string"}}},
        "Batch": {
            "type": "object", "required": ["batch"],
            "properties": {
                "batch": {"type": "array", "items": {"$ref": "#/components/schemas/Event"}},
                "sentAt": {"type": "string", "format": "date-time"},
                "writeKey": {"type": "string"},
                "app_id": {"type": "string"},
            },
        },
        "Result": {
            "type": "object", "required": ["messageId", "event_id", "status"],
            "properties": {
                "messageId": nullable_str,
                "event_id": nullable_str,
                "status": {"type": "string", "enum": ["accepted", "duplicate", "invalid"]},
                "code": {"type": "string", "description": "invalid only: why"},
                "reason": {"type": "string", "description": "invalid only: the message"},
            },
        },
        "Results": {
            "type": "object", "required": ["success", "results"],
            "properties": {
                "success": {"type": "boolean", "const": True},
                "results": {"type": "array", "items": {"$ref": "#/components/schemas/Result"}},
            },
        },
        "Probe": {
            "type": "object", "required": ["status"],
            "properties": {"status": {"type": "string", "enum": ["ok", "unavailable"]}},
        },
        "Error": {
            "type": "object", "required": ["code", "message", "hint"],
            "properties": {"code": {"type": "string"}, "message": {"type": "string"},
                           "hint": {"type": "string"}},
        },
    }


def openapi_document() -> dict[str, Any]:
    paths: dict[str, Any] = {
        "/v1/batch": _ingest_op("Send a batch of Segment events", "Batch", "batch"),
    }
    for kind in SINGLE_TYPES:
        paths[f"/v1/{kind}"] = _ingest_op(f"Send one {kind} event", "SingleEvent", kind)
    probe = {"application/json": {"schema": {"$ref": "#/components/schemas/Probe"}}}
    paths["/livez"] = _probe("The process is alive", "livez",
                             {"description": "alive", "content": probe}, fails=False)
    paths["/readyz"] = _probe("Connected to NATS, stream reachable, not draining", "readyz",
                              {"description": "ready", "content": probe}, fails=True)
    paths["/metrics"] = _probe("Prometheus metrics", "metrics", {
        "description": "text exposition format",
        "content": {"text/plain": {"schema": {"type": "string"}}}}, fails=False)
    paths["/openapi.json"] = _probe("This document", "openapi", {
        "description": "OpenAPI 3.1",
        "content": {"application/json": {"schema": {"type": "object"}}}}, fails=False)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Causality ingest",
            "version": "1",
            "description": "Segment-compatible event ingestion. The write key goes in Basic "
                           "auth (as the username), as a Bearer token, or as writeKey in the "
                           "body. Every error is JSON {code, message, hint}. Events over the "
                           "event limit inside a batch are rejected one by one (status "
                           "invalid, code event_too_large); a single call with one is a 413. "
                           f"A body nested over {MAX_JSON_DEPTH} levels of arrays and objects "
                           "(its own object and the batch array included) is a 400 too_deep. "
                           "Of repeated names in an object the last wins for the fields the "
                           "edge reads (properties, traits and context are mostly stored as "
                           "sent); NaN and Infinity are a 400 malformed_json; a lone UTF-16 "
                           "surrogate escape becomes U+FFFD; a leading UTF-8 BOM is ignored.",
        },
        "paths": paths,
        "components": {
            "schemas": _schemas(),
            "securitySchemes": {
                "basic": {"type": "http", "scheme": "basic",
                          "description": "username = write key, password empty"},
                "bearer": {"type": "http", "scheme": "bearer"},
            },
        },
    }
