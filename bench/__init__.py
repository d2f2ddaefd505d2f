"""Benchmarks of the runner against its performance targets (docs/architecture.md states them).

Each module is a plain script (``uv run python -m bench.<name>``) that prints a summary and writes
``bench/results/<name>.json``; ``bench/run_all.py`` runs them all and regenerates
``docs/performance.md`` from those files: the page's prose is ``bench/performance.md.tmpl``,
filled with the values each benchmark's sibling ``bench/<name>_page.py`` computes (formatting in
``bench/report.py``).
"""
