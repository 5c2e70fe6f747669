"""The package's exception family (defined in ``graph.errors`` so every layer can use it)."""

from .graph.errors import *  # noqa: F403
from .graph.errors import __all__ as __all__  # noqa: F401
