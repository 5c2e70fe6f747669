"""The package's version, in a leaf module every layer may import (the root imports the layers)."""

__version__ = "0.1.0"

__all__ = ["__version__"]
