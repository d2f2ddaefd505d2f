"""Real-cluster end-to-end tests (``uv run pytest e2e``); see docs/testing.md."""
