"""Message handlers: one module per message type, each exporting ``handle(msg, ctx) -> result``.

Handlers are stateless; they reach the world only through the Context they are given and import
only the runtime's public surface, ``runtime.api`` (an import-linter contract in pyproject.toml).
``routes.py`` is the table the runtime dispatches from.
"""
