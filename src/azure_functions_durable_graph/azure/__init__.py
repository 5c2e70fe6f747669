"""Azure Durable Functions target. Importing this package does not import the Azure SDK."""

from .app import DurableGraphApp

__all__ = ["DurableGraphApp"]
