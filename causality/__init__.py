"""Causality: self-hosted behavioral analytics with an AI analyst workspace.

This package is the composition root: typed settings, the ``causality`` CLI and the
all-in-one supervisor. Business logic lives in the sibling packages.
"""

from causality.errors import CausalityError, ConfigError

__version__ = "0.1.0"
__all__ = ["CausalityError", "ConfigError", "__version__"]
