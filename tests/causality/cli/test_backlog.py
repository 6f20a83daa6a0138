"""``causality backlog`` through click against a real nats-server."""

from __future__ import annotations

import asyncio
import json
import socket
import uuid
from pathlib import Path

import nats
from click.testing import CliRunner
from nats.js.api import AckPolicy, ConsumerConfig

from causality.cli import main
from pipeline.bus import Streams, ensure_streams, stream_configs
from pipeline.natsd import NatsServer

WEEK_S = 7 * 24 * 3600.0


async def _two_consumers(url: str, streams: Streams) -> None:
    """``reactor-x`` consumed everything; ``sink-x`` nothing of three messages."""
    nc = await nats.connect(url)
    js = nc.jetstream(timeout=10)
    await ensure_streams(js, stream_configs(streams, WEEK_S))
    for name in ("sink-x", "reactor-x"):
        await js.add_consumer(streams.events, ConsumerConfig(
            durable_name=name, ack_policy=AckPolicy.EXPLICIT))
    for _ in range(3):
        await js.publish(streams.events_for("shop"), b"{}")
    sub = await js.pull_subscribe_bind("reactor-x", streams.events)
    for msg in await sub.fetch(3, timeout=5):
        await msg.ack_sync()
    await nc.close()


def test_lists_every_consumer_and_fails_when_one_passes_the_fraction(
        nats_server: NatsServer, tmp_path: Path) -> None:
    streams = Streams.prefixed(f"c{uuid.uuid4().hex[:8]}")
    asyncio.run(_two_consumers(nats_server.url, streams))
    env = {"CAUSALITY_NATS_URL": nats_server.url, "CAUSALITY_DATA_DIR": str(tmp_path),
           "CAUSALITY_SINK_DURABLE": "sink-x"}
    runner = CliRunner()
    args = ["backlog", "--stream", streams.events]

    text = runner.invoke(main, args, env=env)
    assert text.exit_code == 0, text.output
    lines = text.stdout.splitlines()
    assert lines[0].split() == ["CONSUMER", "PENDING", "ACK_PENDING", "OLDEST_AGE", "OF_MAX_AGE"]
    assert lines[1].split()[:3] == ["reactor-x", "0", "0"]
    assert lines[2].split()[:3] == ["sink-x", "3", "0"]
    assert text.stderr == ""

    doc = json.loads(runner.invoke(main, [*args, "--json"], env=env).stdout)
    sink = next(c for c in doc["consumers"] if c["durable"] == "sink-x")
    assert (sink["oldest_seq"], sink["stream_max_age_s"], sink["behind"]) == (1, WEEK_S, False)
    assert sink["warn_fraction"] == 0.5

    # Any age at all passes a tiny fraction: set for the sink's durable, then for all.
    env_tiny = {**env, "CAUSALITY_SINK_BACKLOG_WARN_FRACTION": "1e-12"}
    for run_env, extra in ((env_tiny, []), (env, ["--warn-fraction", "1e-12"])):
        behind = runner.invoke(main, [*args, *extra], env=run_env)
        assert behind.exit_code == 1, behind.output
        assert behind.stderr.count("warning:") == 1 and "'sink-x'" in behind.stderr
    as_json = runner.invoke(main, [*args, "--json", "--warn-fraction", "1e-12"], env=env)
    assert as_json.exit_code == 1
    assert [c["behind"] for c in json.loads(as_json.stdout)["consumers"]] == [False, True]


def test_errors_have_a_code_and_a_hint(nats_server: NatsServer, tmp_path: Path) -> None:
    with socket.socket() as free:  # a port nothing listens on
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    runner = CliRunner()
    down = runner.invoke(main, ["backlog"], env={
        "CAUSALITY_NATS_URL": f"nats://127.0.0.1:{port}", "CAUSALITY_DATA_DIR": str(tmp_path)})
    assert down.exit_code == 2
    assert "error [nats_unavailable]" in down.stderr and "hint:" in down.stderr
    assert "Traceback" not in down.output

    missing = runner.invoke(main, ["backlog", "--stream", "NO_SUCH_STREAM"], env={
        "CAUSALITY_NATS_URL": nats_server.url, "CAUSALITY_DATA_DIR": str(tmp_path)})
    assert missing.exit_code == 2 and "error [stream_not_found]" in missing.stderr
