"""The HTTP contract: transport-free handlers over the RunBackend port, OpenAPI, adapters.

Import ``api.app`` (Starlette) only where a local server is wanted; nothing here is imported
by the package root, so an Azure deployment does not load the local server stack.
"""
