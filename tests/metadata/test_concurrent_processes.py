"""Several workspace processes on one metadata store behave as one process would.

Each worker is a real OS process (multiprocessing's "spawn" context) that opens its own engine
on the store's URL, exactly as separate workspace (or ingest) processes do, on SQLite (a file)
and on PostgreSQL. Racing workers start together at a barrier; workers that take turns (one
creates or revokes, another checks) are driven step by step through queues. Every wait has a
deadline and a hung worker is terminated, so a hang fails the test instead of blocking CI.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import queue
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from datetime import timedelta
from multiprocessing.process import BaseProcess
from multiprocessing.synchronize import Barrier
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy.engine import Engine as SqlEngine

from guardrails import Rejected
from metadata import KeyStore, MetadataError, open_db
from metadata.dashboards import MAX_TILES, DashboardStore
from metadata.embeds import EmbedLinks
from metadata.ratelimit import SharedRateLimiter, SlidingWindows
from metadata.users import UserStore
from pipeline.ingest._auth import KeyCache
from pipeline.ingest._errors import IngestError
from workspace.config import WorkspaceSettings

CTX = multiprocessing.get_context("spawn")
WORKERS = 4
DEADLINE_S = 120.0  # for a whole race, or for one reply from a driven worker
IDLE_S = 300.0  # a driven worker whose test vanished stops after this long
KEY_TTL_S = 0.5  # ingest.key_cache_ttl_s of the edge process in the key test
ANN_PASSWORD = "correct horse battery"

Worker = Callable[..., Any]


@pytest.fixture
def url(db: SqlEngine) -> str:
    """The URL of a fresh store (tables made) that every worker opens on its own."""
    return db.url.render_as_string(hide_password=False)


# --- racing workers ------------------------------------------------------------------------


def _guarded(work: Worker, index: int, url: str, start: Barrier, results: Any,
             args: tuple[Any, ...]) -> None:
    """Run ``work(url, start, *args)`` in this process; report its value or its traceback."""
    try:
        results.put((index, "ok", work(url, start, *args)))
    except BaseException:
        results.put((index, "error", traceback.format_exc()))


def _race(url: str, jobs: list[tuple[Worker, tuple[Any, ...]]]) -> list[Any]:
    """Run each ``(work, args)`` of ``jobs`` in a process of its own, started together; their
    values in the order of ``jobs``."""
    start, results = CTX.Barrier(len(jobs)), CTX.Queue()
    workers = [CTX.Process(target=_guarded, args=(work, i, url, start, results, args),
                           daemon=True) for i, (work, args) in enumerate(jobs)]
    for worker in workers:
        worker.start()
    deadline = time.monotonic() + DEADLINE_S
    values: dict[int, Any] = {}
    try:
        while len(values) < len(workers):
            try:
                index, status, value = results.get(timeout=max(deadline - time.monotonic(), 0))
            except queue.Empty:
                pytest.fail(f"{len(workers) - len(values)} worker(s) did not finish in "
                            f"{DEADLINE_S:g} s")
            assert status == "ok", f"worker {index} failed:\n{value}"
            values[index] = value
    finally:
        _stop(workers)
    assert [w.exitcode for w in workers] == [0] * len(workers)
    return [values[i] for i in range(len(workers))]


def _stop(workers: Sequence[BaseProcess]) -> None:
    for worker in workers:
        worker.join(timeout=DEADLINE_S)
        if worker.is_alive():
            worker.terminate()
            worker.join(timeout=DEADLINE_S)


def _admit_queries(url: str, start: Barrier, actor: str, per_minute: int,
                   tries: int) -> list[str]:
    """A workspace process's query limiter admitting ``tries`` queries by ``actor``."""
    limiter = SharedRateLimiter(SlidingWindows(open_db(url)))
    limiter.admit("warm-up", per_minute)  # connect before the race, not during it
    start.wait(timeout=DEADLINE_S)
    outcomes = []
    for _ in range(tries):
        try:
            limiter.admit(actor, per_minute)
        except Rejected as refused:
            outcomes.append(refused.code)
        else:
            outcomes.append("admitted")
    return outcomes


def _sign_in(url: str, start: Barrier, attempts: list[tuple[str, str]], address: str,
             per_address: int) -> list[str]:
    """A workspace process's sign-in form, sent ``attempts`` (username, password) from
    ``address``; the message shown for each (or ``signed in``)."""
    from workspace.app._auth import password_sign_in  # streamlit: only in this worker

    db = open_db(url)
    settings = WorkspaceSettings(signin_failures_per_address=per_address)
    ws: Any = SimpleNamespace(windows=SlidingWindows(db), users=UserStore(db),
                              settings=SimpleNamespace(workspace=settings))
    ws.users.count()
    start.wait(timeout=DEADLINE_S)
    return [_shown(password_sign_in(ws, name, password, address))
            for name, password in attempts]


def _shown(outcome: object) -> str:
    return outcome if isinstance(outcome, str) else "signed in"


def _add_users(url: str, start: Barrier, rows: list[tuple[str, str]]) -> list[str]:
    """``UserStore.add`` of each (username, email); ``added`` or the error's code."""
    users = UserStore(open_db(url))
    users.count()
    start.wait(timeout=DEADLINE_S)
    outcomes = []
    for name, email in rows:
        try:
            users.add(name, None, "viewer", email=email)
        except MetadataError as err:
            outcomes.append(err.code)
        else:
            outcomes.append("added")
    return outcomes


def _pin_tiles(url: str, start: Barrier, dashboard_id: str, tries: int) -> list[str]:
    """Create a dashboard of this process's own, then pin ``tries`` tiles to the shared one."""
    boards = DashboardStore(open_db(url))
    boards.create("mine", owner="ann")
    start.wait(timeout=DEADLINE_S)
    outcomes = []
    for n in range(tries):
        try:
            boards.add_tile(dashboard_id, title=f"t{n}", sql="SELECT 1", created_by="ann")
        except MetadataError as err:
            outcomes.append(err.code)
        else:
            outcomes.append("added")
    return outcomes


def _delete_board(url: str, start: Barrier, dashboard_id: str) -> str:
    boards = DashboardStore(open_db(url))
    boards.list()
    start.wait(timeout=DEADLINE_S)
    boards.delete(dashboard_id)
    return "deleted"


def _first_embed(url: str, start: Barrier) -> str:
    """A link made by a process that may be the first to need the store's signing secret."""
    links = EmbedLinks(open_db(url))
    start.wait(timeout=DEADLINE_S)
    return links.create("d1", "shop", timedelta(hours=1), created_by="ann")[1]


# --- driven workers ------------------------------------------------------------------------


def _session(url: str, key_ttl_s: float, requests: Any, replies: Any) -> None:
    """A workspace (embed viewer, key admin) and ingest edge (its key cache) in one process,
    doing what ``requests`` asks until ``stop``."""
    db = open_db(url)
    links, keys = EmbedLinks(db), KeyStore(db)
    loop = asyncio.new_event_loop()
    edge = KeyCache(keys, key_ttl_s, negative_ttl_s=0.0, clock=time.monotonic)

    def embed_verify(token: str) -> str:
        try:
            links.verify(token)
        except MetadataError as err:
            return err.code
        return "ok"

    def key_verify(plain: str) -> tuple[float, str]:
        asked_at = time.monotonic()  # no later than the cache's own look at its clock
        try:
            loop.run_until_complete(edge.verify(plain))
        except IngestError as err:
            return asked_at, err.code
        return asked_at, "ok"

    def embed_create(dashboard_id: str) -> tuple[str, str]:
        link, token = links.create(dashboard_id, "shop", timedelta(hours=1), created_by="ann")
        return link.link_id, token

    def key_create(app_id: str) -> tuple[str, str]:
        key, plain = keys.create(app_id)
        return key.key_id, plain

    ops: dict[str, Callable[..., Any]] = {
        "clock": time.monotonic, "embed_create": embed_create, "embed_verify": embed_verify,
        "embed_revoke": lambda link_id: links.revoke(link_id).link_id,
        "key_create": key_create, "key_verify": key_verify,
        "key_revoke": lambda key_id: keys.revoke(key_id).key_id,
    }
    try:
        while True:
            op, args = requests.get(timeout=IDLE_S)
            if op == "stop":
                return
            try:
                replies.put(("ok", ops[op](*args)))
            except BaseException:
                replies.put(("error", traceback.format_exc()))
    finally:
        loop.close()
        db.dispose()


class Remote:
    """A `_session` worker process, called op by op."""

    def __init__(self, url: str, key_ttl_s: float = 0.0):
        self.requests, self.replies = CTX.Queue(), CTX.Queue()
        self.process = CTX.Process(target=_session, daemon=True,
                                   args=(url, key_ttl_s, self.requests, self.replies))
        self.process.start()

    def __call__(self, op: str, *args: Any) -> Any:
        self.requests.put((op, args))
        try:
            status, value = self.replies.get(timeout=DEADLINE_S)
        except queue.Empty:
            pytest.fail(f"the other process did not answer {op} in {DEADLINE_S:g} s")
        assert status == "ok", f"{op} failed in the other process:\n{value}"
        return value

    def close(self) -> None:
        if self.process.is_alive():
            self.requests.put(("stop", ()))
        _stop([self.process])


@pytest.fixture
def start_process(url: str) -> Iterator[Callable[..., Remote]]:
    started: list[Remote] = []

    def start(key_ttl_s: float = 0.0) -> Remote:
        started.append(Remote(url, key_ttl_s))
        return started[-1]

    yield start
    for remote in started:
        remote.close()


# --- the tests -----------------------------------------------------------------------------


def test_the_query_rate_limit_admits_exactly_its_limit_across_processes(url: str) -> None:
    per_minute, tries = 17, 10  # four processes ask for 40 at once
    outcomes = _race(url, [(_admit_queries, ("ann", per_minute, tries))] * WORKERS)
    assert Counter(code for each in outcomes for code in each) == {
        "admitted": per_minute, "rate_limited": WORKERS * tries - per_minute}


def test_failed_sign_ins_pause_a_username_exactly_at_the_limit(url: str, db: SqlEngine) -> None:
    from workspace.app._auth import FAILED_SIGNINS, WRONG_CREDENTIALS

    UserStore(db).add("ann", ANN_PASSWORD, "analyst")
    tries = 3  # each process from an address of its own; 12 wrong passwords at once
    outcomes = _race(url, [(_sign_in, ([("ann", "wrong password!")] * tries, f"10.0.0.{n}", 100))
                           for n in range(WORKERS)])
    shown = Counter(message.split(". ")[0] for each in outcomes for message in each)
    assert shown == {WRONG_CREDENTIALS: FAILED_SIGNINS,
                     "Too many failed sign-ins for this username": WORKERS * tries
                     - FAILED_SIGNINS}
    assert _sign_in_now(db, "ann", ANN_PASSWORD).startswith("Too many failed sign-ins for this")


def test_failed_sign_ins_pause_an_address_exactly_at_its_limit(url: str, db: SqlEngine) -> None:
    from workspace.app._auth import WRONG_CREDENTIALS

    per_address, tries = 7, 3  # one address sprays 12 usernames from four processes at once
    outcomes = _race(url, [(_sign_in, ([(f"u{n}-{i}", "wrong password!") for i in range(tries)],
                                       "10.0.0.9", per_address)) for n in range(WORKERS)])
    shown = Counter(message.split(". ")[0] for each in outcomes for message in each)
    assert shown == {WRONG_CREDENTIALS: per_address,
                     "Too many failed sign-ins from your network address": WORKERS * tries
                     - per_address}


def _sign_in_now(db: SqlEngine, name: str, password: str) -> str:
    from workspace.app._auth import password_sign_in

    ws: Any = SimpleNamespace(windows=SlidingWindows(db), users=UserStore(db),
                              settings=SimpleNamespace(workspace=WorkspaceSettings()))
    return _shown(password_sign_in(ws, name, password, "10.0.1.1"))


def test_a_link_revoked_in_one_process_is_refused_by_another_at_once(
        start_process: Callable[..., Remote]) -> None:
    admin, viewer = start_process(), start_process()
    link_id, token = admin("embed_create", "d1")
    assert viewer("embed_verify", token) == "ok"
    admin("embed_revoke", link_id)
    assert viewer("embed_verify", token) == "embed_revoked"  # no cache: the row, every view


def test_processes_that_first_need_the_signing_secret_together_agree_on_it(
        url: str, db: SqlEngine) -> None:
    tokens = _race(url, [(_first_embed, ())] * WORKERS)
    links = EmbedLinks(db)
    assert [links.verify(token).dashboard_id for token in tokens] == ["d1"] * WORKERS


def test_a_revoked_key_is_refused_by_an_uncached_edge_at_once(
        start_process: Callable[..., Remote]) -> None:
    admin, edge = start_process(), start_process(key_ttl_s=0.0)
    key_id, plain = admin("key_create", "shop")
    assert edge("key_verify", plain)[1] == "ok"
    admin("key_revoke", key_id)
    assert edge("key_verify", plain)[1] == "invalid_key"


def test_a_revoked_key_is_refused_once_the_edge_cache_ttl_has_passed(
        start_process: Callable[..., Remote]) -> None:
    """The edge may keep accepting a revoked key from its cache, but only for key_cache_ttl_s
    after the revocation (the cached look-up was made before it): asked at B's clock t, a key
    still accepted means t < (B's clock once the revocation committed) + KEY_TTL_S."""
    admin, edge = start_process(), start_process(key_ttl_s=KEY_TTL_S)
    key_id, plain = admin("key_create", "shop")
    assert edge("key_verify", plain)[1] == "ok"  # looked up, now cached
    admin("key_revoke", key_id)
    revoked_by = edge("clock")
    deadline = time.monotonic() + DEADLINE_S
    asked_at, verdict = edge("key_verify", plain)
    while verdict == "ok":
        assert asked_at < revoked_by + KEY_TTL_S, "accepted after the cache TTL had passed"
        assert time.monotonic() < deadline, "the edge never refused the revoked key"
        asked_at, verdict = edge("key_verify", plain)
    assert verdict == "invalid_key"
    assert edge("key_verify", plain)[1] == "invalid_key"


def test_concurrent_sign_ups_keep_names_and_emails_unique(url: str, db: SqlEngine) -> None:
    names = [(f"user{i}", f"user{i}@example.com") for i in range(5)]
    outcomes = _race(url, [(_add_users, ([*names, (f"own{n}", "shared@example.com")],))
                           for n in range(WORKERS)])
    for i in range(len(names) + 1):
        assert Counter(each[i] for each in outcomes) == {"added": 1, "user_exists": WORKERS - 1}
    assert UserStore(db).count() == len(names) + 1


def test_concurrent_pins_keep_the_tile_cap_and_order(url: str, db: SqlEngine) -> None:
    boards = DashboardStore(db)
    shared = boards.create("shared", owner="ann").dashboard_id
    tries = 10  # four processes pin 40 tiles at once to a dashboard that holds 24
    outcomes = _race(url, [(_pin_tiles, (shared, tries))] * WORKERS)
    assert Counter(code for each in outcomes for code in each) == {
        "added": MAX_TILES, "too_many_tiles": WORKERS * tries - MAX_TILES}
    assert [t.seq for t in boards.tiles(shared)] == list(range(1, MAX_TILES + 1))
    assert len(boards.list()) == WORKERS + 1


def test_a_dashboard_deleted_while_others_pin_leaves_no_tile_behind(url: str,
                                                                    db: SqlEngine) -> None:
    boards = DashboardStore(db)
    doomed = boards.create("doomed", owner="ann").dashboard_id
    tries = 6
    outcomes = _race(url, [(_delete_board, (doomed,))]
                     + [(_pin_tiles, (doomed, tries))] * (WORKERS - 1))
    assert outcomes[0] == "deleted"
    assert set(code for each in outcomes[1:] for code in each) <= {"added", "unknown_dashboard"}
    assert boards.tiles(doomed) == []
