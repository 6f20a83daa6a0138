"""Recorded model replies served through the real SDKs at the HTTP layer.

A recording (``recordings/<name>.json``) lists exchanges: an HTTP status and a body, here
Anthropic Messages API (or OpenAI chat completion) replies. `Replay` serves them in order
through an ``httpx2.MockTransport`` (the transport type of the installed ``anthropic`` and
``openai`` SDKs) and keeps every request body it received, so tests can read the prompt.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx2

from causality.settings import LLMSettings
from workspace.analyst import InstructorPlanner, planner_from_settings

RECORDINGS = Path(__file__).parent / "recordings"


class Replay:
    def __init__(self, name: str):
        data = json.loads((RECORDINGS / f"{name}.json").read_text())
        self.exchanges: list[dict[str, Any]] = data["exchanges"]
        self.requests: list[dict[str, Any]] = []
        self.urls: list[str] = []

    def handler(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(json.loads(request.content))
        self.urls.append(str(request.url))
        if len(self.requests) > len(self.exchanges):
            return httpx2.Response(418, json={"type": "error", "error": {
                "type": "invalid_request_error", "message": "no more recorded replies"}})
        exchange = self.exchanges[len(self.requests) - 1]
        return httpx2.Response(exchange.get("status", 200), json=exchange["body"])

    def client(self) -> httpx2.Client:
        return httpx2.Client(transport=httpx2.MockTransport(self.handler))

    def system_prompt(self, i: int = 0) -> str:
        system = self.requests[i]["system"]
        if isinstance(system, list):
            return "\n".join(block["text"] for block in system)
        return str(system)

    def text_of(self, i: int) -> str:
        """Every message of request `i`, flattened to text."""
        return json.dumps(self.requests[i]["messages"])


def anthropic_planner(replay: Replay, validation_retries: int = 1) -> InstructorPlanner:
    llm = LLMSettings(provider="anthropic", model="claude-sonnet-5",
                      anthropic_api_key="sk-ant-test", sdk_retries=0,
                      validation_retries=validation_retries)
    return planner_from_settings(llm, http_client=replay.client())


def openai_planner(replay: Replay, mode: str = "tools") -> InstructorPlanner:
    llm = LLMSettings(provider="openai", model="qwen2.5:7b", openai_mode=mode,
                      openai_base_url="http://127.0.0.1:11434/v1", sdk_retries=0)
    return planner_from_settings(llm, http_client=replay.client())
