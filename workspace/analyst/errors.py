"""The analyst's root exception; provider SDK errors are translated into it at the edge."""

from __future__ import annotations

from workspace.errors import WorkspaceError

SETUP_HINT = (
    "set CAUSALITY_LLM_PROVIDER=anthropic with CAUSALITY_LLM_ANTHROPIC_API_KEY, or "
    "CAUSALITY_LLM_PROVIDER=openai with CAUSALITY_LLM_OPENAI_BASE_URL (Ollama, vLLM) and "
    "CAUSALITY_LLM_OPENAI_API_KEY if the endpoint needs one"
)


class AnalystError(WorkspaceError):
    code = "analyst_error"


class AnalystUnavailable(AnalystError):
    """No model is configured (or its client library is missing)."""

    code = "no_llm_provider"


class LLMError(AnalystError):
    """The model provider failed: unreachable, overloaded, refused the key, or kept
    returning replies that are not a valid plan."""

    code = "llm_error"


class AnswerFailed(AnalystError):
    """Every attempt was rejected by the guardrails or failed in the engine."""

    code = "answer_failed"
