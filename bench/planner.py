"""Latency of the rule planner (`RulePlanner.answer`) per question of the shipped set.

Run: .venv/bin/python bench/planner.py [--repeat N]
Builds the catalog context from the set's demo data (generated into a temporary directory),
then times each question's answer N times with `time.perf_counter` and prints p50, p99 and
max per answer over all questions and repetitions, plus the same for hostile inputs (100k
characters, repeated words). Goal: p99 < 20 ms.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from guardrails import Policy  # noqa: E402
from warehouse.demo import generate_and_write  # noqa: E402
from warehouse.engines.duckdb_engine import DuckDBEngine  # noqa: E402
from workspace.analyst.context import describe  # noqa: E402
from workspace.analyst.rules import RulePlanner  # noqa: E402
from workspace.evals import DEMO_QUESTIONS, load_questions  # noqa: E402

REPEAT = 50
HOSTILE = ("signups " * 20_000, "by " * 50_000, "→" * 100_000, "a" * 100_000,
           "last " * 30_000 + "7 days")


def quantiles(ms: list[float]) -> str:
    ms = sorted(ms)
    p99 = ms[min(len(ms) - 1, round(0.99 * (len(ms) - 1)))]
    return (f"p50 {statistics.median(ms):.3f} ms, p99 {p99:.3f} ms, max {ms[-1]:.3f} ms "
            f"({len(ms)} answers)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=REPEAT)
    args = parser.parse_args()
    questions = load_questions(DEMO_QUESTIONS)
    with tempfile.TemporaryDirectory() as tmp:
        generate_and_write(questions.demo.events, Path(tmp), seed=questions.demo.seed,
                           end=questions.demo.end)
        engine = DuckDBEngine(tmp, memory_limit="1GB")
        try:
            context = describe(engine, Policy(queries_per_minute=None), actor="bench",
                               today=questions.today)
        finally:
            engine.close()
    started = time.perf_counter()
    planner = RulePlanner(context)
    print(f"lexicon: {len(planner.lexicon.phrases)} phrases, built in "
          f"{(time.perf_counter() - started) * 1000:.1f} ms")
    times: list[float] = []
    for _ in range(args.repeat):
        for q in questions.questions:
            begun = time.perf_counter()
            planner.answer(q.question, questions.today)
            times.append((time.perf_counter() - begun) * 1000)
    print(f"shipped set ({len(questions.questions)} questions): {quantiles(times)}")
    hostile: list[float] = []
    for _ in range(max(1, args.repeat // 10)):
        for text in HOSTILE:
            begun = time.perf_counter()
            planner.answer(text, questions.today)
            hostile.append((time.perf_counter() - begun) * 1000)
    print(f"hostile inputs ({len(HOSTILE)} texts): {quantiles(hostile)}")


if __name__ == "__main__":
    main()
