"""``causality notebook``: export a dashboard or a chat as a marimo notebook, and run one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from causality.cli._app import settings_of
from causality.errors import CausalityError

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine as SqlEngine

    from workspace.notebooks import NotebookQuery


class NotebookExportError(CausalityError):
    code = "notebook_export"


@click.group("notebook")
def notebook_group() -> None:
    """Answers and dashboards as marimo notebooks that re-run the same guarded queries."""


@notebook_group.command("export")
@click.option("--dashboard", "dashboard_id", default=None,
              help="Export this dashboard's tiles (its app scope comes along).")
@click.option("--chat", "chat_id", default=None,
              help="Export this chat's answered questions (`causality ask` prints its id).")
@click.option("--turn", type=click.IntRange(1), default=None,
              help="With --chat: only this question (1 = the chat's first).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the notebook to this .py file (default: print it).")
@click.pass_context
def export_command(ctx: click.Context, dashboard_id: str | None, chat_id: str | None,
                   turn: int | None, output: Path | None) -> None:
    """Write a marimo notebook (.py) that reproduces a dashboard or a chat's answers.

    The notebook re-runs each query through the guardrails under the same app scope and
    redraws its chart; run it with `causality notebook run FILE`, `python FILE`, or render it
    with `marimo export html FILE -o page.html`.
    """
    from causality.wiring import metadata
    from workspace.notebooks import notebook_source

    if (dashboard_id is None) == (chat_id is None):
        raise click.UsageError("give exactly one of --dashboard ID or --chat CHAT_ID")
    if turn is not None and chat_id is None:
        raise click.UsageError("--turn goes with --chat")
    db = metadata(settings_of(ctx))
    try:
        if dashboard_id is not None:
            title, queries, app_id = _dashboard(db, dashboard_id)
        else:
            assert chat_id is not None
            title, queries, app_id = _chat(db, chat_id, turn)
    finally:
        db.dispose()
    source = notebook_source(title, queries, app_id=app_id)
    if output is None:
        click.echo(source, nl=False)
        return
    try:
        output.write_text(source, encoding="utf-8")
    except OSError as err:
        raise NotebookExportError(f"cannot write {output}: {err.strerror}", code="cannot_write",
                                  hint="pick a writable path with -o") from None
    scope = f" for app {app_id}" if app_id else ""
    click.echo(f"wrote {output} ({len(queries)} queries{scope}); "
               f"run it with `causality notebook run {output}`", err=True)


@notebook_group.command("run")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_context
def run_command(ctx: click.Context, file: Path) -> None:
    """Run a notebook FILE as a script with this Python; exits with the notebook's code.

    Every cell runs in order; a cell that fails (a refused query, say) makes it exit 1.
    """
    env = dict(os.environ)
    config = ctx.find_root().params.get("config")
    if config is not None:  # the notebook's connect() reads the same settings file
        env["CAUSALITY_CONFIG"] = str(Path(config).resolve())
    done = subprocess.run([sys.executable, str(file)], env=env, check=False)
    ctx.exit(done.returncode)


def _dashboard(db: SqlEngine, dashboard_id: str) -> tuple[str, list[NotebookQuery], str | None]:
    from metadata.dashboards import DashboardStore
    from workspace.notebooks import NotebookQuery

    store = DashboardStore(db)
    board = store.get(dashboard_id)
    queries = [NotebookQuery(title=t.title, sql=t.sql, chart=t.chart, insight=t.insight)
               for t in store.tiles(dashboard_id)]
    if not queries:
        raise NotebookExportError(f"dashboard {board.name!r} has no tiles",
                                  code="empty_dashboard",
                                  hint="pin an answer to it in the workspace first")
    return board.name, queries, board.app_id


def _chat(db: SqlEngine, chat_id: str,
          turn: int | None) -> tuple[str, list[NotebookQuery], str | None]:
    from workspace.analyst import ChatStore
    from workspace.notebooks import NotebookQuery

    session = ChatStore(db).load(chat_id)
    numbered = list(enumerate(session.turns, start=1))
    if turn is not None:
        if turn > len(numbered):
            raise NotebookExportError(f"chat {chat_id} has {len(numbered)} questions, not {turn}",
                                      code="unknown_turn", hint=f"use 1..{len(numbered)}")
        numbered = [numbered[turn - 1]]
    queries = []
    for _, t in numbered:
        if not t.ok or not t.sql:
            continue
        plan = t.plan
        kind = plan.query.kind if plan is not None else None
        queries.append(NotebookQuery(title=t.question, sql=t.sql,
                                     chart=plan.chart if plan is not None else None,
                                     insight=None if kind in (None, "sql") else kind))
    if not queries:
        what = (f"question {turn} of chat {chat_id} has no answer" if turn is not None
                else f"chat {chat_id} has no answered question")
        raise NotebookExportError(what, code="no_answer",
                                  hint="export a question whose query ran; failed ones have no SQL")
    return session.title or "Chat", queries, session.app_id


COMMANDS = (notebook_group,)
