"""The workspace room's settings sections: ``[workspace]`` and ``[llm]`` (the analyst's model).

Composed into the one settings object by :mod:`causality.settings`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, Protocol

from pydantic import Field, SecretStr

from causality.section import Section
from warehouse.config import QuerySettings

if TYPE_CHECKING:
    from guardrails import Policy
    from warehouse.engines import Engine


class LLMSettings(Section):
    """The AI analyst's model (``causality ask``): Anthropic, or any OpenAI-compatible
    endpoint (Ollama, vLLM) through ``openai_base_url``; ``none`` turns the analyst off."""

    provider: Literal["none", "anthropic", "openai"] = "none"
    model: str = "claude-sonnet-5"
    anthropic_api_key: SecretStr | None = None
    openai_base_url: str | None = None
    openai_api_key: SecretStr | None = None
    max_attempts: int = Field(3, ge=1, le=10)
    # Issue 6: the analyst's planner.
    openai_mode: Literal["tools", "json"] = Field(
        "tools", description="json for OpenAI-compatible servers without tool calling")
    max_tokens: int = Field(4096, ge=256, le=64_000, description="per model reply")
    timeout_s: float = Field(120.0, gt=0, le=600, description="one model call, at most")
    sdk_retries: int = Field(2, ge=0, le=10, description="the SDK's retries on 429/5xx")
    validation_retries: int = Field(1, ge=0, le=5,
                                    description="re-asks when a reply is not a valid plan")
    examples: int = Field(3, ge=0, le=10, description="verified queries shown as examples")


class WorkspaceSettings(Section):
    """The Streamlit workspace (``causality workspace``): where it listens, how long dashboard
    results are cached, embed links, and optional OpenID Connect sign-in."""

    host: str = "127.0.0.1"
    port: int = Field(8501, ge=0, le=65535, description="0 picks a free port")
    public_url: str | None = Field(None, description="base URL in embed links; default "
                                                     "http://<host>:<port>")
    cache_ttl_s: float = Field(300.0, ge=0, le=86_400, description="dashboard tile results")
    max_chart_points: int = Field(1_000, ge=50, le=20_000,
                                  description="longer time series are bucketed in SQL")
    embed_ttl_days: float = Field(30.0, gt=0, le=366, description="default embed link life")
    starter_content: bool = Field(
        True, description="Overview dashboards made on the Dashboards page; Chat examples")
    # Issue 14: signed-in sessions end when idle; failed sign-ins pause a client address too.
    session_idle_timeout_s: float = Field(
        1800.0, ge=60, le=7 * 86_400,
        description="a signed-in person with no click for this long must sign in again")
    signin_failures_per_address: int = Field(
        20, ge=1, le=10_000,
        description="failed sign-ins from one client address (any usernames) that pause it")
    signin_address_window_s: float = Field(600.0, ge=1, le=86_400,
                                           description="the window those failures count in")
    trusted_proxy_hops: int = Field(
        0, ge=0, le=10,
        description="reverse proxies in front of the workspace whose X-Forwarded-For is "
                    "believed; 0 counts the connection's own address")
    # OpenID Connect through st.login; all four set turns it on (local accounts still work).
    oidc_server_metadata_url: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret: SecretStr | None = None
    oidc_cookie_secret: SecretStr | None = None

    @property
    def oidc_enabled(self) -> bool:
        return None not in (self.oidc_server_metadata_url, self.oidc_client_id,
                            self.oidc_client_secret, self.oidc_cookie_secret)

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")


class WorkspaceConfig(Protocol):
    """What the workspace reads from the composed settings (``causality.settings.Settings``
    is one): its sections, the metadata store's URL, and the two things the composition root
    builds for it, the guardrails' policy and the configured engine."""

    @property
    def workspace(self) -> WorkspaceSettings: ...
    @property
    def llm(self) -> LLMSettings: ...
    @property
    def query(self) -> QuerySettings: ...
    @property
    def metadata_db_url(self) -> str: ...
    def policy(self, tenant_app_id: str | None = None) -> Policy: ...
    def open_engine(self, *, cache: bool = False) -> Engine: ...
