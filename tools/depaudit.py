"""Audit uv.lock for known vulnerabilities with what PyPI itself publishes.

pip-audit is the usual tool, but it asks PyPI's per-version JSON API
(``/pypi/<name>/<version>/json``) or OSV's API, and neither answers from the machines this
project is built on. PyPI's project JSON (``/pypi/<name>/json``) does answer, and its
``vulnerabilities`` list is the OSV data (PYSEC and GHSA advisories) for the project's latest
release. So a package locked at its latest release is audited exactly; one locked at an older
(or newer) release is reported as not audited, with both versions, rather than passed. Keeping
the lock current (``uv lock --upgrade``) therefore keeps the audit complete.

Exit status: 0 nothing known, 1 known vulnerabilities (each printed with its ids and the
versions that fix it), 2 the audit could not run (no package could be looked up).
"""

from __future__ import annotations

import argparse
import json
import sys
import tomllib
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.version import InvalidVersion, Version

DEFAULT_INDEX = "https://pypi.org"

Fetch = Callable[[str], dict[str, Any] | None]


@dataclass(frozen=True)
class Locked:
    name: str
    version: str


@dataclass
class Finding:
    package: Locked
    #: ``audited``, ``behind`` (locked release is not PyPI's latest), ``missing`` or ``error``.
    status: str
    latest: str | None = None
    vulnerabilities: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None


def locked_packages(lock_text: str) -> list[Locked]:
    """Every (name, version) taken from a package index, once; the project itself is skipped."""
    lock = tomllib.loads(lock_text)
    seen: dict[tuple[str, str], Locked] = {}
    for package in lock.get("package", []):
        source = package.get("source", {})
        if "registry" not in source or "version" not in package:
            continue
        item = Locked(package["name"], str(package["version"]))
        seen.setdefault((item.name, item.version), item)
    return sorted(seen.values(), key=lambda p: (p.name, p.version))


def http_fetch(index: str, timeout: float = 20.0, attempts: int = 3) -> Fetch:
    """A fetcher of ``<index>/pypi/<name>/json``: the parsed body, or None for a 404."""

    def fetch(name: str) -> dict[str, Any] | None:
        url = f"{index.rstrip('/')}/pypi/{name}/json"
        last: Exception | None = None
        for _ in range(attempts):
            try:
                with urllib.request.urlopen(url, timeout=timeout) as response:
                    data: dict[str, Any] = json.load(response)
                    return data
            except urllib.error.HTTPError as exc:
                if exc.code == 404:
                    return None
                last = exc
            except (OSError, ValueError) as exc:
                last = exc
        raise RuntimeError(f"{url}: {last}")

    return fetch


def _same_version(a: str, b: str) -> bool:
    try:
        return Version(a) == Version(b)
    except InvalidVersion:
        return a == b


def audit_one(package: Locked, fetch: Fetch) -> Finding:
    try:
        data = fetch(package.name)
    except Exception as exc:
        return Finding(package, "error", error=str(exc))
    if data is None:
        return Finding(package, "missing")
    latest = str(data.get("info", {}).get("version") or "")
    if not _same_version(package.version, latest):
        return Finding(package, "behind", latest=latest)
    vulns = [v for v in data.get("vulnerabilities") or [] if not v.get("withdrawn")]
    return Finding(package, "audited", latest=latest, vulnerabilities=vulns)


def audit(packages: Iterable[Locked], fetch: Fetch, workers: int = 16) -> list[Finding]:
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda p: audit_one(p, fetch), packages))


def report(findings: list[Finding], ignore: set[str], out: Any = None) -> int:
    """Print the findings; return the exit status."""
    out = out or sys.stdout
    known: list[tuple[Finding, dict[str, Any]]] = []
    ignored: list[str] = []
    for finding in findings:
        for vuln in finding.vulnerabilities:
            ids = {vuln.get("id", "?"), *(vuln.get("aliases") or [])}
            if ids & ignore:
                ignored.append(f"{finding.package.name} {vuln.get('id')}")
            else:
                known.append((finding, vuln))
    audited = [f for f in findings if f.status == "audited"]
    for finding, vuln in known:
        aliases = ", ".join(vuln.get("aliases") or []) or "no aliases"
        fixed = ", ".join(vuln.get("fixed_in") or []) or "no fixed release"
        summary = (vuln.get("summary") or vuln.get("details") or "").strip().splitlines()
        print(
            f"VULNERABLE {finding.package.name} {finding.package.version}: {vuln.get('id')} "
            f"({aliases}); fixed in: {fixed}" + (f"; {summary[0][:160]}" if summary else ""),
            file=out,
        )
    for name in ignored:
        print(f"ignored (--ignore): {name}", file=out)
    for finding in findings:
        p = finding.package
        if finding.status == "behind":
            print(
                f"not audited: {p.name} {p.version} (PyPI's latest is {finding.latest}; "
                "its advisories cover the latest release only)",
                file=out,
            )
        elif finding.status == "missing":
            print(f"not audited: {p.name} {p.version} (not on the index)", file=out)
        elif finding.status == "error":
            print(f"not audited: {p.name} {p.version} (lookup failed: {finding.error})", file=out)
    print(
        f"audited {len(audited)} of {len(findings)} locked packages against PyPI's advisory "
        f"data (OSV); {len(known)} known vulnerabilities"
        + (f", {len(ignored)} ignored" if ignored else ""),
        file=out,
    )
    if findings and all(f.status == "error" for f in findings):
        print("the audit could not run: no package could be looked up", file=out)
        return 2
    return 1 if known else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.depaudit", description=__doc__)
    parser.add_argument("--lock", type=Path, default=Path("uv.lock"))
    parser.add_argument(
        "--index", default=DEFAULT_INDEX, help="PyPI's address (default %(default)s)"
    )
    parser.add_argument(
        "--ignore",
        action="append",
        default=[],
        metavar="ID",
        help="an advisory id or alias accepted on purpose (repeatable); say why in the commit",
    )
    args = parser.parse_args(argv)
    packages = locked_packages(args.lock.read_text())
    if not packages:
        print(f"{args.lock}: no package from an index", file=sys.stderr)
        return 2
    findings = audit(packages, http_fetch(args.index))
    return report(findings, set(args.ignore))


if __name__ == "__main__":
    sys.exit(main())
