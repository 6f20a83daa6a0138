"""The load generator for ``bench/ingest.py --client wrk``: Debian's ``wrk`` (C, epoll) with a
Lua script that draws batches from the same templates, with unique messageIds, rotating the
write keys. It costs a fraction of the CPU a Python client does, so the edge gets the
machine's cores. Latency percentiles are wrk's own (closed loop, per connection).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60_000.0}
_LONG_BRACKET = "]==]"

SCRIPT = """
local templates = {%(templates)s}
local keys = {%(keys)s}
local batch = %(batch)d
local counter = 0
local skeletons = {}

-- A batch is drawn from the templates once per skeleton, at start; a request takes one and
-- puts its own counter into every messageId (prefix-counter-i): ids stay unique per event,
-- and building a body is one table.concat instead of 5 string joins per event.
function init(args)
  math.randomseed(os.time())
  local prefix = (args[1] or "run") .. "-" .. tostring(math.random(1, 1000000000)) .. "-"
  for s = 1, %(skeletons)d do
    local parts, before = {}, '{"batch":['
    for i = 1, batch do
      local t = templates[math.random(#templates)]
      parts[#parts + 1] = before .. t[1] .. prefix
      parts[#parts + 1] = ""  -- the counter goes here
      before = "-" .. i .. t[2] .. ","
    end
    parts[#parts + 1] = before:sub(1, -2) .. '],"sentAt":"'
    parts[#parts + 1] = ""  -- the time goes here
    parts[#parts + 1] = '"}'
    skeletons[s] = parts
  end
end

function request()
  counter = counter + 1
  local parts = skeletons[(counter %% #skeletons) + 1]
  local id = tostring(counter)
  for i = 2, 2 * batch, 2 do
    parts[i] = id
  end
  parts[#parts - 1] = os.date("!%%Y-%%m-%%dT%%H:%%M:%%SZ")
  local headers = {["Content-Type"] = "application/json",
                   ["Authorization"] = keys[(counter %% #keys) + 1]}
  return wrk.format("POST", "/v1/batch", headers, table.concat(parts))
end
"""
SKELETONS = 64  # batches drawn from the templates; each request reuses one with fresh ids


def available() -> str | None:
    return shutil.which("wrk")


def write_script(path: Path, templates: list[tuple[bytes, bytes]], auths: list[str],
                 batch: int) -> Path:
    def lua(text: str) -> str:
        if _LONG_BRACKET in text or text.endswith("]=="):
            raise ValueError("a template cannot sit in a Lua long string")
        return f"[==[{text}]==]"

    rows = ",\n".join("{" + lua(h.decode()) + "," + lua(t.decode()) + "}" for h, t in templates)
    keys = ",".join(lua(a) for a in auths)
    path.write_text(SCRIPT % {"templates": rows, "keys": keys, "batch": batch,
                              "skeletons": SKELETONS})
    return path


def start(url: str, script: Path, connections: int, duration_s: float,
          label: str) -> subprocess.Popen[str]:
    wrk = available()
    if wrk is None:
        raise SystemExit("wrk is not installed (Debian: apt-get install wrk)")
    return subprocess.Popen(
        [wrk, "-t1", f"-c{connections}", f"-d{duration_s:g}s", "--latency", "--timeout", "10s",
         "-s", str(script), url, "--", label],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def parse(output: str, batch: int, duration_s: float) -> dict[str, Any]:
    """wrk's report → the same figures the Python clients report."""
    requests = int(_find(r"(\d+) requests in ([\d.]+)(\w+)", output, 1))
    elapsed_s = float(_find(r"(\d+) requests in ([\d.]+)(\w+)", output, 2)) * _UNITS[
        _find(r"(\d+) requests in ([\d.]+)(\w+)", output, 3)] / 1000
    bad = int(_find(r"Non-2xx or 3xx responses: (\d+)", output, 1, default="0"))
    errors = re.search(r"Socket errors: (.*)", output)
    percentiles = {p: _ms(_find(rf"^\s+{p}%\s+([\d.]+\w+)", output, 1))
                   for p in ("50", "90", "99")}
    return {"elapsed_s": elapsed_s or duration_s, "requests": requests,
            "events": (requests - bad) * batch,
            "statuses": {200: requests - bad, **({"non-2xx": bad} if bad else {})},
            "socket_errors": errors.group(1) if errors else None,
            "p50_ms": percentiles["50"], "p90_ms": percentiles["90"],
            "p99_ms": percentiles["99"]}


def _find(pattern: str, text: str, group: int, default: str | None = None) -> str:
    match = re.search(pattern, text, re.MULTILINE)
    if match is None:
        if default is not None:
            return default
        raise SystemExit(f"wrk output not understood (no {pattern!r}):\n{text}")
    return match.group(group)


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(\w+)", text).groups()  # type: ignore[union-attr]
    return float(number) * _UNITS[unit]
