"""Settings (admins): apps and their write keys, the model provider, the query engine."""

from __future__ import annotations

import streamlit as st

from causality.errors import CausalityError
from workspace.app._context import page_context
from workspace.app._look import plain
from workspace.app._results import show_error
from workspace.app._scope import known_apps

ctx = page_context("admin")
ws = ctx.ws

st.title("Settings")
keys_tab, llm_tab, engine_tab = st.tabs(["Apps and API keys", "AI model", "Query engine"])

with keys_tab:
    with st.form("new_key", clear_on_submit=True):
        left, right = st.columns(2)
        app = left.text_input("App", key="key_app", placeholder="shop",
                              help="a-z, 0-9, '_' and '-'; a new name makes a new app")
        key_label = right.text_input("Label", key="key_label", placeholder="iOS app")
        create = st.form_submit_button("Create key", type="primary", key="key_create",
                                       icon=":material/key:")
    if create:
        try:
            made, plain_key = ws.keys.create(app.strip(), key_label.strip())
        except CausalityError as err:
            show_error(err)
        else:
            st.success(f"Key created for app {plain(made.app_id)}. Copy it now: it is shown only "
                       "once and stored only as a hash.")
            st.code(plain_key, language=None)
    apps = known_apps(ws)
    st.caption("Apps: " + (", ".join(plain(a) for a in apps) if apps else "none yet") +
               ". An app's events are sent with one of its write keys; the key decides the "
               "app, never the event.")
    for key in reversed(ws.keys.list()):
        cols = st.columns([1, 1.2, 1.5, 1.5, 1], vertical_alignment="center")
        cols[0].markdown(f"**{plain(key.app_id)}**")
        cols[1].markdown(f"`{key.prefix}…`")
        cols[2].markdown(plain(key.label) or "—")
        cols[3].markdown(f"created {key.created_at:%Y-%m-%d}" if key.active
                         else f":red[revoked {key.revoked_at:%Y-%m-%d}]")
        if key.active and cols[4].button("Revoke", key=f"revoke-key-{key.key_id}"):
            ws.keys.revoke(key.key_id)
            st.rerun()

with llm_tab:
    ready, text = ws.llm_status()
    if ready:
        st.success(f"The AI analyst uses {plain(text)}.", icon=":material/check_circle:")
    else:
        st.warning(text, icon=":material/warning:")
        st.caption("For Anthropic set `CAUSALITY_LLM_PROVIDER=anthropic` and "
                   "`CAUSALITY_LLM_ANTHROPIC_API_KEY`; for an OpenAI-compatible server (Ollama, "
                   "vLLM) set `CAUSALITY_LLM_PROVIDER=openai` and "
                   "`CAUSALITY_LLM_OPENAI_BASE_URL`; then restart. Dashboards, Insights and SQL "
                   "work without a model.")

with engine_tab:
    query = ws.settings.query
    st.markdown(f"Configured engine: **{query.engine}** · row cap {query.max_rows:,} · "
                f"timeout {query.timeout_s:g} s")
    try:
        engine = ws.engine
        tables = engine.catalog(samples=False).tables
    except CausalityError as err:
        show_error(err)
    else:
        columns = sum(len(cols) for cols in tables.values())
        st.success(f"{engine.name} answers: {len(tables)} table{'s' if len(tables) != 1 else ''}"
                   f", {columns} columns.", icon=":material/check_circle:")
        day_cache = engine.status().day_cache
        if day_cache is not None:
            st.caption(f"Day cache: {day_cache.days} closed days, {day_cache.rows:,} rows, "
                       f"{day_cache.memory_bytes / 2**20:,.0f} MB in memory (budget "
                       f"{day_cache.budget_bytes / 2**20:,.0f} MB of Parquet)"
                       + (" · loading" if day_cache.loading else ""))
        if st.button("Clear cached dashboard results", key="clear_cache"):
            ws.refresh()
            st.toast("Cached dashboard results cleared.")
