"""The script Streamlit runs for ``causality workspace``: the settings build this process's
`Workspace` once (``st.cache_resource``), then the app renders (:func:`workspace.app.run`)."""

from __future__ import annotations

import os
from pathlib import Path

import streamlit as st

from causality import wiring
from causality.reactions_port import ReactorReactions
from causality.settings import load_settings
from workspace.app import run
from workspace.service import Workspace

CONFIG_ENV = "CAUSALITY_CONFIG"


@st.cache_resource(show_spinner=False)
def _workspace(config: str | None) -> Workspace:
    settings = load_settings(Path(config) if config else None)
    db = wiring.metadata(settings)
    return Workspace(settings, db=db, reactions=ReactorReactions(
        db, lambda: wiring.reactor_key(settings)))


run(lambda: _workspace(os.environ.get(CONFIG_ENV) or None))
