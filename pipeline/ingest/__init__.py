"""The ingest edge: Segment-compatible HTTP in, one JetStream message per accepted batch out.

It owns the public event API (``/v1/*``, its OpenAPI document and its errors), write-key checks
and per-key rate limits, event validation (rejections go to ``QUARANTINE``), and its worker
processes. See DESIGN.md (data flow, decisions 1 and 2) and :mod:`pipeline.bus` for the message
format.
"""

from pipeline.ingest._app import STEPS, create_app
from pipeline.ingest._errors import IngestError
from pipeline.ingest._serve import run, serve

__all__ = ["STEPS", "IngestError", "create_app", "run", "serve"]
