"""Unit tests of the e2e images' own code (e2e/images/), kept out of e2e/: they need no image."""
