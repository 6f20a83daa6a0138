"""Scripted model replies served through the real SDKs at the HTTP layer.

The replies are written by hand, never recorded from a provider. A script
(``scripted/<name>.json``) lists exchanges: an HTTP status and a body, here Anthropic
Messages API (or OpenAI chat completion) replies. `ScriptedModel` serves them in order
through an ``httpx2.MockTransport`` (the transport type of the installed ``anthropic`` and
``openai`` SDKs) and keeps every request it received, so tests can read the prompt: `raw`
holds the exact bytes sent, `requests` the same bodies decoded. `split_blocks` and
`records` read the data blocks of a prompt the way a strict reader would.
"""

from __future__ import annotations

import json
import re
import unicodedata
from pathlib import Path
from typing import Any

import httpx2

from causality.settings import LLMSettings
from workspace.analyst import InstructorPlanner, planner_from_settings

SCRIPTS = Path(__file__).parent / "scripted"
OPEN = re.compile(r'<data name="[a-z_]+">')
#: line breaks for some reader (Python's str.splitlines, Unicode) other than "\n"
BREAKS = "\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"


class ScriptedModel:
    def __init__(self, name: str):
        data = json.loads((SCRIPTS / f"{name}.json").read_text())
        self.exchanges: list[dict[str, Any]] = data["exchanges"]
        self.raw: list[bytes] = []
        self.requests: list[dict[str, Any]] = []
        self.urls: list[str] = []

    def handler(self, request: httpx2.Request) -> httpx2.Response:
        self.raw.append(request.content)
        self.requests.append(json.loads(request.content))
        self.urls.append(str(request.url))
        if len(self.requests) > len(self.exchanges):
            return httpx2.Response(418, json={"type": "error", "error": {
                "type": "invalid_request_error", "message": "no more scripted replies"}})
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


def anthropic_planner(model: ScriptedModel, validation_retries: int = 1) -> InstructorPlanner:
    llm = LLMSettings(provider="anthropic", model="claude-sonnet-5",
                      anthropic_api_key="sk-ant-test", sdk_retries=0,
                      validation_retries=validation_retries)
    return planner_from_settings(llm, http_client=model.client())


def openai_planner(model: ScriptedModel, mode: str = "tools") -> InstructorPlanner:
    llm = LLMSettings(provider="openai", model="qwen2.5:7b", openai_mode=mode,
                      openai_base_url="http://127.0.0.1:11434/v1", sdk_retries=0)
    return planner_from_settings(llm, http_client=model.client())


def split_blocks(text: str) -> tuple[str, list[str]]:
    """The text outside data blocks, and each block's body. A block opens with a line that
    is exactly ``<data name="...">`` and ends at the next line that is exactly ``</data>``."""
    outside: list[str] = []
    blocks: list[str] = []
    body: list[str] | None = None
    for line in text.split("\n"):
        if body is None and OPEN.fullmatch(line):
            body = []
        elif body is not None and line == "</data>":
            blocks.append("\n".join(body))
            body = None
        elif body is not None:
            body.append(line)
        else:
            outside.append(line)
    assert body is None, "a data block is never closed"
    return "\n".join(outside), blocks


def records(text: str) -> list[Any]:
    """Every record of every data block in `text`, decoded."""
    return [json.loads(line) for block in split_blocks(text)[1]
            for line in block.split("\n") if line]


def inert(block: str) -> list[Any]:
    """Check a block cannot be escaped from or misread; return its decoded records."""
    for ch in block:
        assert ch == "\n" or (unicodedata.category(ch)[0] != "C"
                              and unicodedata.category(ch) not in ("Zl", "Zp")), repr(ch)
    assert not any(ch in BREAKS for ch in block)
    assert "<" not in block
    return [json.loads(line) for line in block.split("\n") if line]
