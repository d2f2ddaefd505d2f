"""Development tooling, not the production path: the reference server, the demo, the stand-in, the
harness."""
