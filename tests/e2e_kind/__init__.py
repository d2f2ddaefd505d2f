"""Unit tests of the kind tier's helpers (e2e/kind/), kept out of e2e/: they need no cluster."""
