"""Throughput of the reactor's rule index (`pipeline.reactor._index`) against a linear scan.

Run: .venv/bin/python bench/reactor_index.py [--events N] [--repeat N] [--linear-work N]
For 10, 1,000 and 10,000 rules spread over 20 apps and 200 event types (about 10 % globs,
20 % with no category or no event type), events/s of `RuleIndex.candidates` over a Zipf-ish
stream of N events (default 200k), in CPU time of this process (steadier than wall clock on a
shared machine): cold (a fresh index, its memo filling), warm (best of --repeat passes) and
without the memo (cache_keys=0). Next to it the linear scan of every rule (`linear_candidates`)
measured in the same run, over the first --linear-work / rules events, and warm / linear.
Goals: with 10,000 rules >= 80 % of the 10-rule throughput; >= 20,000 events/s with 1,000 rules.
"""

from __future__ import annotations

import argparse
import platform
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from itertools import accumulate
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.reactor import Indexed, RuleIndex, linear_candidates  # noqa: E402

SIZES = (10, 1_000, 10_000)
EVENTS = 200_000
REPEAT = 3
LINEAR_WORK = 20_000_000  # rules x events of the linear scan per size
APPS = tuple(f"app_{n:02d}" for n in range(20))
CATEGORIES = {
    "commerce": ("cart", "checkout", "coupon", "order"),
    "media": ("video", "audio", "podcast"),
    "auth": ("login", "signup", "password"),
    "content": ("page", "article", "search"),
    "social": ("share", "comment", "follow"),
    "lifecycle": ("trial", "plan", "account"),
    "notification": ("push",),
}
VERBS = ("started", "viewed", "done", "failed", "error", "updated", "opened", "closed",
         "added", "removed")
NOUN_CATEGORY = {noun: category for category, nouns in CATEGORIES.items() for noun in nouns}
EVENT_TYPES = tuple(f"{noun}_{verb}" for noun in NOUN_CATEGORY for verb in VERBS)
ZIPF_S = 1.1
SEED = 20


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    app_id: str
    category: str | None
    event_type: str | None


def zipf(n: int) -> list[float]:
    return list(accumulate(1 / (rank ** ZIPF_S) for rank in range(1, n + 1)))


def category_of(event_type: str) -> str:
    return NOUN_CATEGORY[event_type.split("_", 1)[0]]


def glob(rnd: random.Random) -> tuple[str | None, str]:
    noun, verb = rnd.choice(tuple(NOUN_CATEGORY)), rnd.choice(VERBS)
    return rnd.choice([
        (NOUN_CATEGORY[noun], f"{noun}_*"),
        (None, f"*_{verb}"),
        (None, f"{noun}_?????"),
        ("co*", f"*_{verb[:2]}*"),
        (None, "*_error"),
    ])


def rules(n: int, seed: int) -> list[Rule]:
    rnd = random.Random(seed)
    weights = zipf(len(EVENT_TYPES))
    made = []
    for number in range(n):
        drawn = rnd.choices(EVENT_TYPES, cum_weights=weights)[0]
        category, event_type = category_of(drawn), drawn  # the exact fields, before any None
        kind = rnd.random()
        if kind < 0.10:
            fields: tuple[str | None, str | None] = glob(rnd)
        elif kind < 0.20:
            fields = (None, event_type)
        elif kind < 0.29:
            fields = (category, None)
        elif kind < 0.30:
            fields = (None, None)
        else:
            fields = (category, event_type)
        made.append(Rule(f"r{number:05d}", rnd.choice(APPS), *fields))
    return made


def stream(n: int, seed: int) -> list[tuple[str, str, str]]:
    rnd = random.Random(seed)
    apps = rnd.choices(APPS, cum_weights=zipf(len(APPS)), k=n)
    types = rnd.choices(EVENT_TYPES, cum_weights=zipf(len(EVENT_TYPES)), k=n)
    return [(app, category_of(event_type), event_type)
            for app, event_type in zip(apps, types, strict=True)]


Lookup = Callable[[str, str, str], tuple[Indexed, ...]]


def rate(lookup: Lookup, events: list[tuple[str, str, str]]) -> float:
    """Events per CPU second."""
    start = time.process_time()
    for app, category, event_type in events:
        lookup(app, category, event_type)
    return len(events) / max(time.process_time() - start, 1e-9)


def measure(size: int, events: list[tuple[str, str, str]], repeat: int,
            linear_work: int) -> dict[str, float]:
    made = rules(size, SEED + size)
    start = time.process_time()
    index = RuleIndex.build(made)
    build_s = time.process_time() - start
    cold = rate(index.candidates, events)
    warm = max(rate(index.candidates, events) for _ in range(repeat))
    uncached = rate(RuleIndex.build(made, cache_keys=0).candidates, events)
    sample = events[:max(1, min(len(events), linear_work // size))]
    linear = rate(lambda a, c, e: linear_candidates(made, a, c, e), sample)
    per_event = sum(len(index.candidates(*event)) for event in sample) / len(sample)
    print(f"{size:>6}  {build_s * 1e3:8.1f}  {per_event:10.1f}  {cold:>11,.0f}  {warm:>11,.0f}"
          f"  {uncached:>13,.0f}  {linear:>11,.0f} {len(sample):>7,}  {warm / linear:>11,.1f}x")
    return {"cold": cold, "warm": warm, "no memo": uncached}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=EVENTS)
    parser.add_argument("--repeat", type=int, default=REPEAT)
    parser.add_argument("--linear-work", type=int, default=LINEAR_WORK,
                        help="rules x events of the linear scan per size")
    args = parser.parse_args()
    events = stream(args.events, SEED)
    keys = len(set(events))
    print(f"Python {platform.python_version()}; {len(APPS)} apps, {len(EVENT_TYPES)} event "
          f"types, {args.events:,} events ({keys:,} distinct keys); events/s in CPU time")
    print(f"{'rules':>6}  {'build ms':>8}  {'cands/event':>10}  {'cold':>11}  {'warm':>11}"
          f"  {'no memo':>13}  {'linear':>11} {'events':>7}  {'warm/linear':>12}")
    results = {size: measure(size, events, args.repeat, args.linear_work) for size in SIZES}
    small, large = results[SIZES[0]], results[SIZES[-1]]
    print(f"{SIZES[-1]:,} rules / {SIZES[0]:,} rules throughput: "
          + ", ".join(f"{kind} {large[kind] / small[kind]:.2f}" for kind in small))


if __name__ == "__main__":
    main()
