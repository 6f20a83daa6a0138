"""The pipeline package's root exception; nats and aiohttp errors are translated into it."""

from __future__ import annotations

from causality.errors import CausalityError


class PipelineError(CausalityError):
    code = "pipeline_error"


class NatsServerError(PipelineError):
    code = "nats_server_failed"
