"""The planner: a model that turns a prompt into a `Plan`, through `instructor`.

Anthropic (``instructor.from_anthropic``) or any OpenAI-compatible endpoint
(``instructor.from_openai`` with ``openai_base_url``: Ollama, vLLM). Provider SDK errors are
translated here into `LLMError` with a stable code and a hint; nothing else in the product
depends on a model being configured.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Protocol

from workspace.analyst.errors import SETUP_HINT, AnalystUnavailable, LLMError
from workspace.analyst.plan import Plan

if TYPE_CHECKING:
    from workspace.config import LLMSettings

Message = dict[str, Any]

# instructor logs each failed call at ERROR; without this, Python's last-resort handler would
# print those lines next to our own message. An application's logging config still sees them.
logging.getLogger("instructor").addHandler(logging.NullHandler())


class Planner(Protocol):
    """Anything that returns a plan for a system prompt and a conversation."""

    name: str

    def plan(self, system: str, messages: list[Message]) -> Plan: ...


class InstructorPlanner:
    """A `Planner` over an `instructor` client; `validation_retries` re-asks on invalid
    replies (instructor's ``max_retries``: N means N+1 calls)."""

    def __init__(self, client: Any, *, provider: str, model: str, max_tokens: int = 4096,
                 validation_retries: int = 1):
        self.client = client
        self.provider = provider
        self.model = model
        self.max_tokens = max_tokens
        self.validation_retries = validation_retries
        self.name = f"{provider}:{model}"

    def plan(self, system: str, messages: list[Message]) -> Plan:
        kwargs: dict[str, Any] = {"model": self.model, "max_tokens": self.max_tokens,
                                  "response_model": Plan,
                                  "max_retries": self.validation_retries}
        if self.provider == "anthropic":
            kwargs.update(system=system, messages=messages)
        else:
            kwargs.update(messages=[{"role": "system", "content": system}, *messages])
        try:
            plan: Plan = self.client.chat.completions.create(**kwargs)
        except Exception as err:  # translated at the edge: no SDK exception reaches a user
            raise translate(err, self.provider) from err
        return plan


def planner_from_settings(llm: LLMSettings, *, http_client: Any = None) -> InstructorPlanner:
    """The configured planner, or `AnalystUnavailable` saying what to set.

    `http_client` (an ``httpx2.Client`` of the installed SDKs) replaces the network, in tests.
    """
    if llm.provider == "none":
        raise AnalystUnavailable(
            "no language model is configured, so questions cannot be answered yet",
            hint=SETUP_HINT)
    try:
        import instructor
    except ImportError:
        raise AnalystUnavailable("the AI extra is not installed", code="llm_client_missing",
                                 hint="pip install 'causality[ai]'") from None
    common: dict[str, Any] = {"max_retries": llm.sdk_retries, "timeout": llm.timeout_s}
    if http_client is not None:
        common["http_client"] = http_client
    if llm.provider == "anthropic":
        if llm.anthropic_api_key is None:
            raise AnalystUnavailable("the Anthropic provider needs an API key",
                                     hint="set CAUSALITY_LLM_ANTHROPIC_API_KEY")
        import anthropic

        client = instructor.from_anthropic(anthropic.Anthropic(
            api_key=llm.anthropic_api_key.get_secret_value(), **common))
    else:
        if llm.openai_base_url is None and llm.openai_api_key is None:
            raise AnalystUnavailable(
                "the openai provider needs an endpoint or an API key",
                hint="set CAUSALITY_LLM_OPENAI_BASE_URL (e.g. http://localhost:11434/v1 for "
                     "Ollama) and, if it needs one, CAUSALITY_LLM_OPENAI_API_KEY")
        import openai

        key = llm.openai_api_key.get_secret_value() if llm.openai_api_key else "unused"
        mode = instructor.Mode.JSON if llm.openai_mode == "json" else instructor.Mode.TOOLS
        client = instructor.from_openai(
            openai.OpenAI(base_url=llm.openai_base_url, api_key=key, **common), mode=mode)
    return InstructorPlanner(client, provider=llm.provider, model=llm.model,
                             max_tokens=llm.max_tokens,
                             validation_retries=llm.validation_retries)


def translate(err: Exception, provider: str) -> LLMError:
    """The first provider error in the cause chain → an `LLMError` with code and hint."""
    key_env = ("CAUSALITY_LLM_ANTHROPIC_API_KEY" if provider == "anthropic"
               else "CAUSALITY_LLM_OPENAI_API_KEY")
    for cause in _chain(err):
        status = getattr(cause, "status_code", None)
        name = type(cause).__name__
        if isinstance(status, int):
            detail = _detail(cause)
            if status in (401, 403):
                return LLMError(f"the {provider} API refused the key ({status}): {detail}",
                                code="llm_auth", hint=f"check {key_env}", status=status)
            if status == 429:
                return LLMError(f"the {provider} API is rate limiting requests: {detail}",
                                code="llm_rate_limited", hint="wait a minute and ask again",
                                status=status)
            if status == 529 or "overloaded" in detail.lower():
                return LLMError(f"the {provider} API is overloaded ({status}): {detail}",
                                code="llm_overloaded", hint="try again in a few minutes",
                                status=status)
            if status >= 500:
                return LLMError(f"the {provider} API failed ({status}): {detail}",
                                code="llm_provider_error", hint="try again later; if it "
                                "persists, check the provider's status page", status=status)
            return LLMError(f"the {provider} API rejected the request ({status}): {detail}",
                            code="llm_bad_request",
                            hint="check CAUSALITY_LLM_MODEL names a model the endpoint serves",
                            status=status)
        if name in ("APITimeoutError", "APIConnectionError"):
            return LLMError(f"cannot reach the {provider} API: {cause}", code="llm_unreachable",
                            hint="check the network and CAUSALITY_LLM_OPENAI_BASE_URL"
                            if provider == "openai" else "check the network")
    return LLMError(
        f"the model did not return a valid plan: {_first_line(err)}", code="llm_invalid_output",
        hint="ask again, more specifically; or raise CAUSALITY_LLM_VALIDATION_RETRIES")


def _chain(err: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = err
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _detail(err: BaseException) -> str:
    body = getattr(err, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])
    return _first_line(err)


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0][:300] if text else type(err).__name__
