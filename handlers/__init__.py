"""Message handlers: one module per message type, each exporting ``handle(msg, ctx) -> result``.

Handlers are stateless; they reach the world only through the Context they are given and import
only the runtime's public surface. ``routes.py`` is the table the runtime dispatches from.
"""
