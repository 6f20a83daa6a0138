"""``causality dlq list|show|replay`` through click, against a running sink process."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from causality.cli import main
from pipeline.bus import STREAMS, batch_id, encode_batch
from pipeline.natsd import NatsServer
from pipeline.sink import DEAD_LETTERS
from pipeline.sink._dlq import dead_letter
from tests.pipeline.sink._support import SinkProcess, rows, wait_until, written_ids
from tests.pipeline.sink.test_processes import _dlq_count, _nats
from warehouse.storage import Storage


def _letters(runner: CliRunner, env: dict[str, str]) -> list[dict[str, Any]]:
    result = runner.invoke(main, ["dlq", "list", "--json"], env=env)
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_list_show_and_replay(own_nats_server: NatsServer, tmp_path: Path) -> None:
    url, wh = own_nats_server.url, str(tmp_path / "wh")
    env = {"CAUSALITY_NATS_URL": url, "CAUSALITY_DATA_DIR": str(tmp_path / "data")}
    runner = CliRunner()
    proc = SinkProcess(tmp_path, url, wh, "dlq").start()
    try:
        proc.wait_ready()
        _nats(url, lambda js: js.publish(STREAMS.events_for("shop"), b"garbage"))
        wait_until(lambda: _dlq_count(url) == 1, 20, "the garbage to be dead-lettered")
        # A valid batch that ran out of deliveries (say, storage was down): replay fixes it.
        batch = rows("shop", 20)
        bid = batch_id("shop", [r["event_id"] for r in batch])
        valid = encode_batch("shop", bid, batch)
        _nats(url, lambda js: dead_letter(
            js, DEAD_LETTERS, payload=valid, subject=STREAMS.events_for("shop"),
            stream=STREAMS.events, stream_seq=999, delivered=11, consumer="sink",
            code="max_deliver_exceeded", error="delivered 11 times", msg_id=bid))

        listed = _letters(runner, env)
        assert [(x["code"], x["delivered"]) for x in listed] == [
            ("bad_batch_message", 1), ("max_deliver_exceeded", 11)]
        garbage_seq, valid_seq = listed[0]["seq"], listed[1]["seq"]
        text = runner.invoke(main, ["dlq", "list"], env=env)
        assert text.exit_code == 0 and "bad_batch_message" in text.stdout

        shown = runner.invoke(main, ["dlq", "show", str(garbage_seq)], env=env)
        assert shown.exit_code == 0, shown.output
        doc = json.loads(shown.stdout)
        assert doc["payload"] == "garbage"
        assert doc["subject"] == "events.shop" and doc["stream_seq"] == 1
        assert "malformed" in doc["error"]
        raw = runner.invoke(main, ["dlq", "show", "--payload-only", str(valid_seq)], env=env)
        assert raw.stdout_bytes == valid

        replayed = runner.invoke(main, ["dlq", "replay", str(valid_seq)], env=env)
        assert replayed.exit_code == 0, replayed.output
        wait_until(lambda: sorted(written_ids(Storage(wh))) == sorted(r["event_id"] for r in batch),
                   20, "the replayed batch to be written")

        # Garbage replayed is garbage again: back in the DLQ under a new sequence.
        again = runner.invoke(main, ["dlq", "replay", "--all"], env=env)
        assert again.exit_code == 0 and "1 dead letter(s) replayed" in again.stdout
        wait_until(lambda: [x["seq"] > valid_seq for x in _letters(runner, env)] == [True], 20,
                   "the replayed garbage to be dead-lettered again")
        assert _letters(runner, env)[0]["msg_id"] == "EVENTS.1.replay-1"

        missing = runner.invoke(main, ["dlq", "show", "9999"], env=env)
        assert missing.exit_code == 2 and "dead_letter_not_found" in missing.output
        usage = runner.invoke(main, ["dlq", "replay"], env=env)
        assert usage.exit_code == 2
        assert proc.terminate() == 0
    finally:
        if proc.proc and proc.proc.poll() is None:
            proc.kill()
