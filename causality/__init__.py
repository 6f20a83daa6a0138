"""Causality: self-hosted behavioral analytics with an AI analyst workspace.

This package is the composition root: the settings composed from each room's section
(``settings``), what they build (``wiring``), the ``causality`` CLI (``cli/``), the
all-in-one supervisor, the public Python API (``api.connect``) and the workspace's app script.
Business logic lives in the rooms, which never import this package, except its leaf core:
``causality.errors`` (the root error) and ``causality.section`` (the base of a settings
section), which import nothing of ours.
"""

from causality.errors import CausalityError, ConfigError

__version__ = "0.1.0"
__all__ = ["CausalityError", "ConfigError", "__version__"]
