"""Benchmarks of the runner against the targets of DESIGN.md section 10.

Each module is a plain script (``uv run python -m bench.<name>``) that prints a summary and writes
``bench/results/<name>.json``; ``bench/run_all.py`` runs them all and regenerates
``docs/performance.md`` from those files: the page's prose is ``bench/performance.md.tmpl``,
filled with the values the code computes (``bench/report.py``).
"""
