"""The docs say what the code does: configuration table, protocol frames and error codes."""

from __future__ import annotations

import re
from pathlib import Path

from runtime.settings import defaults_table
from runtime.wire import errors
from runtime.wire.messages import REQUEST_TYPES

ROOT = Path(__file__).parent.parent


def test_readme_configuration_table_is_generated_from_the_code() -> None:
    readme = (ROOT / "README.md").read_text()
    match = re.search(
        r"<!-- config-table:start -->\n(.*?)\n<!-- config-table:end -->", readme, re.DOTALL
    )
    assert match, "README lacks the configuration table markers"
    assert match.group(1).strip() == defaults_table().strip(), (
        "README's configuration table is stale: paste `hybrid-runner config-table`"
    )


def test_readme_starts_with_the_two_quick_start_commands() -> None:
    head = (ROOT / "README.md").read_text().split("## ", 1)[0]
    assert "uv run hybrid-runner demo" in head
    assert "uv run pytest" in head


def test_protocol_documents_every_request_type_and_error_code() -> None:
    protocol = (ROOT / "docs" / "protocol.md").read_text()
    for request_type in REQUEST_TYPES:
        assert f"### `{request_type.TYPE}`" in protocol
    codes = {
        cls.code
        for cls in vars(errors).values()
        if isinstance(cls, type) and issubclass(cls, errors.RunnerError)
    }
    for code in codes:
        assert f"| `{code}` |" in protocol, f"error code {code} is not documented"
    for close_code in ("4401", "4403", "4400", "4409", "1001", "1009"):
        assert f"| {close_code} |" in protocol


# A repository path in the docs: a top-level directory of the project, then a path; one with a
# placeholder in it (``<version>``, ``{name}``, ``$VAR``) names no file.
DOC_PATH = re.compile(r"\b(?:bench|e2e|handlers|helm|runtime|tests|tools)/[\w./*<>{}$-]*")
PLACEHOLDER = re.compile(r"[<>{}$]")
# Paths the docs name that are not meant to exist: the recipes' worked examples (files a reader
# creates), what runs generate (git-ignored), and another project's file.
NOT_IN_THE_REPOSITORY = {
    "handlers/ping_executor.py",
    "tests/handlers/test_ping_executor.py",
    "tests/messages/ping_executor.json",
    "runtime/executors/nomad.py",
    "runtime/secrets/aws_ssm.py",
    "tests/runtime/executors/test_nomad.py",
    "tests/runtime/secrets/test_secrets_aws_ssm.py",
    "bench/results",
    "bench/results/*.json",
    "helm/charts",
    "helm/dagster/values.yaml",
}


def test_every_path_the_docs_name_exists() -> None:
    """A moved or renamed module must take its mentions in README and docs/ along."""
    docs = [ROOT / "README.md", ROOT / "helm" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    missing = [
        f"{doc.relative_to(ROOT)}: {path}"
        for doc in docs
        for path in sorted({m.group().rstrip("./-") for m in DOC_PATH.finditer(doc.read_text())})
        if not PLACEHOLDER.search(path)
        and path not in NOT_IN_THE_REPOSITORY
        and not list(ROOT.glob(path))
    ]
    assert missing == []


def test_the_recipes_name_files_that_exist() -> None:
    """docs/handlers.md lists the files each recipe touches: each one not marked *(new)* is
    there (a moved module must move in the recipes too)."""
    page = (ROOT / "docs" / "handlers.md").read_text()
    rows = re.findall(r"^\| `([^`]+)`( \*\(new\)\*)? \|", page, re.MULTILINE)
    assert len(rows) >= 20, "the recipes' file tables were not found"
    missing = [path for path, new in rows if not new and not (ROOT / path).is_file()]
    assert missing == []
