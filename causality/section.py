"""The base of every settings section (part of the leaf core every room may import).

Each room declares its own section (``pipeline.config.IngestSettings``,
``guardrails.config.GuardrailsSettings``, …); :mod:`causality.settings` composes them into the
one settings object (DESIGN.md decision 9).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    """One ``[section]`` of the settings: unknown keys are errors, values never change."""

    model_config = ConfigDict(extra="forbid", frozen=True)
