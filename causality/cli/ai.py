"""``causality ask``, ``causality eval`` and ``causality verified``: the AI analyst from the
command line."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import click

from causality.cli._app import policy_of, settings_of
from causality.cli._output import Format, format_option, note, to_csv, to_json

if TYPE_CHECKING:
    from collections.abc import Callable

    import pyarrow as pa

    from causality.settings import Settings
    from workspace.analyst import Answer
    from workspace.evals.harness import Mode

SHOWN_ROWS = 50
CELL_CHARS = 40


@click.command("ask")
@click.argument("question")
@click.option("--app", default=None, help="Answer only from this app's events (tenant scope).")
@click.option("--html", "html", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the chart to this HTML file (works offline).")
@click.option("--chat", "chat_id", default=None,
              help="Continue this chat (its id is printed with every answer).")
@click.option("--as", "actor", default="cli", show_default=True,
              help="Who is asking (recorded in the audit log and the chat).")
@format_option
@click.option("--json", "as_json", is_flag=True,
              help="Same as --format json (kept for scripts written before --format).")
@click.pass_context
def ask_command(ctx: click.Context, question: str, app: str | None, html: Path | None,
                chat_id: str | None, actor: str, fmt: Format, as_json: bool) -> None:
    """Ask a question about your events; prints the SQL that ran and the result table.

    With --format json, one document: the answer (chat_id, sql, explanation, plan, chart,
    ...), columns, rows (objects), row_count, truncated. With --format csv, the result
    table's header and rows; the explanation, SQL and chat id go to stderr.
    """
    from causality.wiring import metadata
    from metadata import VerifiedQueries
    from metadata.audit import AuditLog
    from workspace.analyst import AnswerFailed, ChatStore, Session, ask, planner_from_settings

    if as_json:
        if ctx.get_parameter_source("fmt") == click.core.ParameterSource.COMMANDLINE \
                and fmt != "json":
            raise click.UsageError(f"--json contradicts --format {fmt}")
        fmt = "json"
    settings = settings_of(ctx)
    planner = planner_from_settings(settings.llm)
    db = metadata(settings)
    chats = ChatStore(db)
    if chat_id:
        session = chats.load(chat_id)
        if app is not None and app != session.app_id:
            raise click.UsageError(f"chat {chat_id} was started under app {session.app_id}")
        app = session.app_id
    else:
        session = Session(app_id=app, actor=actor)
    eng = settings.open_engine()
    try:
        answer = ask(question, session, eng, policy_of(settings, app), planner=planner,
                     audit=AuditLog(db), verified=VerifiedQueries(db), chats=chats,
                     max_attempts=settings.llm.max_attempts, examples=settings.llm.examples)
    except AnswerFailed as err:
        for n, attempt in enumerate(err.facts.get("attempts", []), start=1):
            code = (attempt.get("error") or {}).get("code")
            click.echo(f"-- attempt {n} refused ({code}):\n{attempt.get('sql') or '(none)'}",
                       err=True)
        raise
    finally:
        eng.close()
    if html is not None:
        from charts import to_figure

        to_figure(answer.chart, answer.table).write_html(str(html), include_plotlyjs=True)
    if fmt == "json":
        click.echo(to_json(_answer_dict(answer)))
        return
    if fmt == "csv":
        _print_answer(answer, say=note, with_table=False)
        click.echo(to_csv(answer.table), nl=False)
        if "truncated" in answer.flags:
            note(f"-- truncated: only the first {answer.table.num_rows} rows (the row cap)")
    else:
        _print_answer(answer)
    if html is not None:
        (note if fmt == "csv" else click.echo)(f"chart: {html}")


def _answer_dict(answer: Answer) -> dict[str, Any]:
    return {
        "chat_id": answer.chat_id, "question": answer.question, "sql": answer.sql,
        "explanation": answer.explanation, "assumptions": answer.assumptions,
        "plan": answer.plan.model_dump(mode="json"), "chart": answer.chart.model_dump(),
        "columns": answer.table.column_names, "rows": answer.table.to_pylist(),
        "row_count": answer.table.num_rows, "truncated": "truncated" in answer.flags,
        "flags": list(answer.flags), "audit_ids": answer.audit_ids,
        "attempts": len(answer.attempts),
    }


def _print_answer(answer: Answer, say: Callable[[str], None] = click.echo,
                  with_table: bool = True) -> None:
    say(answer.explanation)
    for assumption in answer.assumptions:
        say(f"  assumption: {assumption}")
    tries = len(answer.attempts)
    say(f"\n-- SQL that ran ({answer.insight_kind}, {tries} attempt"
        f"{'s' if tries > 1 else ''}):\n{answer.sql}\n")
    if with_table:
        say(format_table(answer.table))
    if answer.flags:
        say(f"flags: {', '.join(answer.flags)}")
    say(f"chat: {answer.chat_id} (continue with --chat {answer.chat_id})")


def format_table(table: pa.Table, max_rows: int = SHOWN_ROWS) -> str:
    """A plain aligned text table of the first `max_rows` rows."""
    names = table.column_names
    rows = [[_cell(v) for v in row.values()] for row in table.slice(0, max_rows).to_pylist()]
    widths = [max([len(n), *(len(r[i]) for r in rows)]) for i, n in enumerate(names)]
    lines = ["  ".join(n.ljust(w) for n, w in zip(names, widths, strict=True)),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    more = table.num_rows - len(rows)
    lines.append(f"({table.num_rows} rows{f', {more} not shown' if more > 0 else ''})")
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, float):
        return f"{value:.6g}"
    text = str(value)
    return text if len(text) <= CELL_CHARS else text[:CELL_CHARS - 1] + "…"


@click.command("eval")
@click.option("--questions", "questions_file", required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Question set (JSON), e.g. workspace/evals/demo_questions.json.")
@click.option("--report", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the full report (JSON) here.")
@click.option("--warehouse", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Demo warehouse to use (default: generated under the data dir as the "
                   "question set describes, once).")
@click.option("--only", default=None, help="Comma-separated question ids to run.")
@click.option("--planner", "mode", type=click.Choice(["model", "rules", "both"]),
              default="model", show_default=True,
              help="Who plans: the configured model, the rule planner alone (no model "
                   "needed), or both (rules when sure, else the model).")
@click.pass_context
def eval_command(ctx: click.Context, questions_file: Path, report: Path | None,
                 warehouse: Path | None, only: str | None, mode: str) -> None:
    """Score the configured model (or the rule planner) on a question set with gold SQL
    (execution accuracy)."""
    from causality.wiring import metadata
    from metadata.audit import AuditLog
    from warehouse.engines import open_engine
    from workspace.analyst import planner_from_settings
    from workspace.evals import load_questions, run_eval

    settings = settings_of(ctx)
    questions = load_questions(questions_file)
    planner = planner_from_settings(settings.llm) if mode != "rules" else None
    root = warehouse or _demo_warehouse(settings, questions)
    engine = open_engine("duckdb", warehouse=root, memory_limit=settings.query.duckdb_memory_limit)
    policy = policy_of(settings, None, queries_per_minute=None)

    def progress(result: Any) -> None:
        mark = "ok  " if result.correct else "FAIL"
        by = f" [{result.by} {result.confidence:.2f}]" if result.confidence is not None else ""
        click.echo(f"{mark} {result.id:<6} {result.attempts} attempt(s) {result.latency_s:6.2f} s"
                   f"{by}  {result.reason}")

    try:
        result = run_eval(questions, engine=engine, planner=planner, policy=policy,
                          audit=AuditLog(metadata(settings)),
                          max_attempts=settings.llm.max_attempts, mode=cast("Mode", mode),
                          only=set(only.split(",")) if only else None, on_result=progress)
    finally:
        engine.close()
    summary = result.summary
    click.echo(f"\n{summary['correct']}/{summary['questions']} correct "
               f"(execution accuracy {summary['execution_accuracy']:.1%}), "
               f"{summary['rejections']} guardrail rejections, "
               f"mean attempts {summary['mean_attempts']}, "
               f"median latency {summary['latency_s']['p50']} s")
    rules = summary.get("rules")
    if rules:
        click.echo(f"rule planner: {rules['sure']} sure ({rules['sure_correct']} correct, "
                   f"{rules['confident_wrong']} confident wrong), {rules['guesses']} guesses "
                   f"({rules['guesses_correct']} correct), {rules['declined']} declined, "
                   f"{rules['answered_by_model']} left to the model; planning time "
                   f"p50 {rules['planner_ms']['p50']} ms, p99 {rules['planner_ms']['p99']} ms")
    if report is not None:
        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_text(json.dumps(result.to_dict(), indent=2, default=str) + "\n")
        click.echo(f"report: {report}")


def _demo_warehouse(settings: Settings, questions: Any) -> Path:
    """The question set's demo data, generated once under the data dir."""
    from warehouse.demo import generate_and_write

    demo = questions.demo
    root = (settings.data_dir / "eval" /
            f"{questions.name}-{demo.events}-{demo.seed}-{demo.end.isoformat()}").resolve()
    marker = root / ".complete"
    if not marker.exists():
        click.echo(f"generating demo data ({demo.events:,} events) under {root} ...")
        started = time.perf_counter()
        generate_and_write(demo.events, root, seed=demo.seed, end=demo.end)
        marker.write_text("ok\n")
        click.echo(f"done in {time.perf_counter() - started:.1f} s")
    return root


@click.group("verified")
def verified_group() -> None:
    """Verified queries: examples a person vouched for, shown to the model when similar."""


@verified_group.command("add")
@click.option("--question", required=True, help="The question, as an analyst would ask it.")
@click.option("--sql", "sql", default=None, help="Trino SQL that answers it.")
@click.option("--insight", "insight_json", default=None,
              help='Or a typed insight as JSON, e.g. {"kind": "trend", ...}.')
@click.option("--by", "verified_by", required=True, help="Who checked the answer.")
@click.option("--app", default=None, help="Show it only to this app's scope (default: all).")
@click.option("--note", default="", help="Why it is right, or what to watch for.")
@click.pass_context
def verified_add(ctx: click.Context, question: str, sql: str | None, insight_json: str | None,
                 verified_by: str, app: str | None, note: str) -> None:
    """Add a verified query (the SQL must pass the guardrails)."""
    from pydantic import TypeAdapter, ValidationError

    from causality.errors import CausalityError
    from causality.wiring import metadata
    from guardrails import Rejected, check
    from metadata import VerifiedQueries
    from workspace.insights import INSIGHT_KINDS, Insight, compile_insight

    settings = settings_of(ctx)
    if (sql is None) == (insight_json is None):
        raise click.UsageError("give exactly one of --sql and --insight")
    insight: dict[str, Any] | None = None
    if insight_json is not None:
        try:
            parsed = TypeAdapter(Insight).validate_json(insight_json)
        except ValidationError as err:
            raise CausalityError(f"--insight is not a valid insight: {err.errors()[0]['msg']}",
                                 code="bad_insight",
                                 hint="kind is one of " + ", ".join(INSIGHT_KINDS) + "; each "
                                 "one's fields are in workspace/insights/kinds/") from None
        insight = parsed.model_dump(mode="json")
        sql = compile_insight(parsed)
    assert sql is not None
    eng = settings.open_engine()
    try:
        check(sql, eng.catalog().tables, policy_of(settings, app).for_dialect(eng.dialect))
    except Rejected as err:
        raise CausalityError(f"the SQL does not pass the guardrails: {err.message}",
                             code=err.code, hint=err.hint or "") from None
    finally:
        eng.close()
    row = VerifiedQueries(metadata(settings)).add(question, sql, verified_by=verified_by,
                                                  insight=insight, app_id=app, note=note)
    click.echo(f"verified query {row.verified_id} added by {row.verified_by}")


@verified_group.command("list")
@click.option("--app", default=None, help="Only those visible to this app's scope.")
@click.pass_context
def verified_list(ctx: click.Context, app: str | None) -> None:
    """List verified queries."""
    from causality.wiring import metadata
    from metadata import VerifiedQueries

    for row in VerifiedQueries(metadata(settings_of(ctx))).list(app):
        scope = row.app_id or "all apps"
        click.echo(f"{row.verified_id:>4}  {row.question}  [{scope}; {row.verified_by}, "
                   f"{row.verified_at:%Y-%m-%d}]")


@verified_group.command("remove")
@click.argument("verified_id", type=int)
@click.pass_context
def verified_remove(ctx: click.Context, verified_id: int) -> None:
    """Remove a verified query by id."""
    from causality.wiring import metadata
    from metadata import VerifiedQueries

    VerifiedQueries(metadata(settings_of(ctx))).remove(verified_id)
    click.echo(f"verified query {verified_id} removed")


COMMANDS = (ask_command, eval_command, verified_group)
