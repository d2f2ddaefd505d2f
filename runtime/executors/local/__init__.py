"""The local executor: runs as subprocesses of the runner, for development and the demo."""
