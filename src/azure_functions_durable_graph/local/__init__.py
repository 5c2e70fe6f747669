"""The embedded durable engine: runs driven in this process, persisted in a run store.

Import what you need from the submodules (``local.engine``, ``local.store``); this package
imports nothing on its own so that loading it stays cheap.
"""
