"""The long-lived process: its one connection to the server, dispatch to handlers, replies out."""
