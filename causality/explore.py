# mypy: disable-error-code="no-untyped-def"
# A starter marimo notebook: the Causality Python API for analysts who prefer code.
# Open it with `marimo edit causality/explore.py`, or run it headless with
# `python causality/explore.py`. Settings come from the CAUSALITY_* environment
# variables (e.g. CAUSALITY_DATA_DIR) or the TOML file named by CAUSALITY_CONFIG.

import marimo

__generated_with = "0.25.2"
app = marimo.App(width="medium", app_title="Explore your events")


@app.cell
def _():
    from datetime import date

    import marimo as mo

    from causality.api import Breakdown, DateRange, Rejected, Trend, connect

    return Breakdown, DateRange, Rejected, Trend, connect, date, mo


@app.cell
def _(mo):
    mo.md("""
    # Explore your events

    `connect()` opens the configured engine (DuckDB over the local warehouse by default,
    or Trino) and the metadata store. Every query you run through it passes the same
    guardrails as the workspace: read-only, known tables and columns, a row cap, a cost
    check, and, with `connect(app_id="...")`, a tenant filter on every reference to
    `events`. Each query is written to the audit log under your name with source
    `notebook`. Queries are written in Trino SQL, whichever engine runs them.
    """)
    return


@app.cell
def _(connect, mo):
    cz = connect()
    mo.md(f"Connected: `{cz!r}`")
    return (cz,)


@app.cell
def _(mo):
    mo.md("""
    ## What you can query

    `cz.catalog()` lists each table and column with its Trino type. Event properties are
    JSON text: read them with `json_extract_scalar(properties, '$.revenue')`.
    """)
    return


@app.cell
def _(cz, mo):
    catalog = cz.catalog()
    mo.ui.table(catalog, selection=None)
    return


@app.cell
def _(mo):
    mo.md("""
    ## Free SQL

    `cz.query(sql)` returns a `pyarrow.Table`; `cz.chart(table)` picks a chart for it
    (or pass a `ChartSpec`). First, the days the warehouse covers.
    """)
    return


@app.cell
def _(cz, mo):
    span = cz.query(
        "SELECT min(dt) AS first_day, max(dt) AS last_day, count(*) AS events FROM events"
    )
    mo.stop(
        span["events"][0].as_py() == 0,
        mo.md("The warehouse has no events yet: load some with `causality demo-data`."),
    )
    mo.ui.table(span, selection=None)
    return (span,)


@app.cell
def _(cz, mo):
    by_type = cz.query(
        """
        SELECT event_type, count(*) AS events, count(DISTINCT user_id) AS users
        FROM events
        GROUP BY event_type
        ORDER BY events DESC
        """
    )
    mo.vstack([mo.ui.table(by_type, selection=None), cz.chart(by_type)])
    return


@app.cell
def _(mo):
    mo.md("""
    ## A typed insight

    Insights (`Trend`, `Funnel`, `Retention`, `TopEvents`, `Stickiness`) are data: our
    code compiles them to SQL, which then passes the guardrails like any query. Here:
    unique users per day over the whole span, split by the three busiest event types.
    """)
    return


@app.cell
def _(Breakdown, DateRange, Trend, cz, date, mo, span):
    trend = Trend(
        measure="users",
        interval="day",
        date_range=DateRange(
            start=date.fromisoformat(span["first_day"][0].as_py()),
            end=date.fromisoformat(span["last_day"][0].as_py()),
        ),
        breakdown=Breakdown(field="event_type", limit=3),
    )
    daily_users = cz.insight(trend)
    mo.vstack([cz.chart(daily_users, insight="trend"), mo.ui.table(daily_users, selection=None)])
    return


@app.cell
def _(Rejected, cz, mo):
    try:
        cz.query("DELETE FROM events WHERE event_type = 'page'")
        refusal = {}
    except Rejected as _err:
        refusal = _err.to_dict()
    mo.vstack([
        mo.md("## The guardrails at work\n\nA query that would change data never runs:"),
        mo.tree(refusal),
    ])
    return


if __name__ == "__main__":
    app.run()
