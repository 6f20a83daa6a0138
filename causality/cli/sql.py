"""``causality sql`` (a query through the guardrails) and ``causality audit tail``."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import click

from causality.cli._app import policy_of, settings_of
from causality.cli._output import Format, format_option, note, to_csv, to_json

if TYPE_CHECKING:
    from guardrails.execute import Execution


@click.command()
@click.argument("query")
@click.option("--app", default=None, help="Restrict the query to this app (tenant filter).")
@click.option("--actor", default="cli", show_default=True, help="Who runs it, for the audit log.")
@click.option("--max-rows", type=click.IntRange(1), default=None,
              help="Row cap (default: query.max_rows).")
@format_option
@click.pass_context
def sql(ctx: click.Context, query: str, app: str | None, actor: str,
        max_rows: int | None, fmt: Format) -> None:
    """Run a Trino-dialect QUERY through the guardrails and print the table and audit id.

    The query is audited, and runs on Trino, with source `sql`, as SQL typed in the workspace.
    With --format json, one document: columns, rows (objects), row_count, truncated,
    audit_id, sql, changes, flags, engine, duration_ms. With --format csv, the header and
    rows; the lines the table format prints around them go to stderr.
    """
    from causality.wiring import metadata
    from guardrails.execute import execute
    from metadata.audit import AuditLog

    s = settings_of(ctx)
    policy = policy_of(s, app)
    if max_rows is not None:
        policy = policy.model_copy(update={"max_rows": max_rows})
    eng = s.open_engine()
    try:
        done = execute(query, engine=eng, policy=policy, actor=actor, source="sql",
                       audit=AuditLog(metadata(s)))
    finally:
        eng.close()
    if fmt == "json":
        click.echo(to_json(_document(done)))
        return
    say = note if fmt == "csv" else click.echo
    say(f"-- ran: {done.checked.sql}")
    if done.checked.changes:
        say(f"-- changed: {', '.join(done.checked.changes)}")
    if fmt == "csv":
        click.echo(to_csv(done.table), nl=False)
    else:
        click.echo(_text_table(done.table))
    flags = f", flags: {', '.join(done.flags)}" if done.flags else ""
    say(f"-- {done.table.num_rows} rows in {done.result.duration_ms:.0f} ms on "
        f"{done.result.engine}; audit id {done.audit_id}{flags}")
    if fmt == "csv" and done.result.truncated:
        note(f"-- truncated: only the first {done.table.num_rows} rows (the row cap; "
             "--max-rows raises it)")


def _document(done: Execution) -> dict[str, Any]:
    return {
        "columns": done.table.column_names, "rows": done.table.to_pylist(),
        "row_count": done.table.num_rows, "truncated": done.result.truncated,
        "audit_id": done.audit_id, "sql": done.checked.sql,
        "changes": list(done.checked.changes), "flags": list(done.flags),
        "engine": done.result.engine, "duration_ms": round(done.result.duration_ms, 1),
    }


def _text_table(table: Any, max_width: int = 40) -> str:
    names = list(table.column_names)
    rows = [["" if v is None else str(v)[:max_width] for v in row.values()]
            for row in table.to_pylist()]
    widths = [max([len(n)] + [len(r[i]) for r in rows]) for i, n in enumerate(names)]
    line = "  ".join(n.ljust(w) for n, w in zip(names, widths, strict=True))
    body = ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join([line, "  ".join("-" * w for w in widths), *body])


@click.group()
def audit() -> None:
    """Inspect the audit log of every query attempt."""


@audit.command("tail")
@click.option("-n", "count", type=click.IntRange(1, 10_000), default=20, show_default=True,
              help="How many recent records.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.pass_context
def audit_tail(ctx: click.Context, count: int, as_json: bool) -> None:
    """Show the most recent audit records, oldest first."""
    from causality.wiring import metadata
    from metadata.audit import AuditLog

    for rec in AuditLog(metadata(settings_of(ctx))).tail(count):
        if as_json:
            click.echo(json.dumps(rec, default=str))
            continue
        outcome = rec["verdict"] if not rec["code"] else f"{rec['verdict']}:{rec['code']}"
        shown = str(rec["sql_run"] or rec["sql_in"])[:120]
        click.echo(f"#{rec['audit_id']} {rec['at']:%Y-%m-%d %H:%M:%S} {rec['actor']} "
                   f"({rec['source']}) {outcome} rows={rec['rows']} {shown!r}")


COMMANDS = (sql, audit)
