"""The chart's PrometheusRule: this chart's alerts and Collate's (HybridAgentDown,
HybridAgentDisconnected), rendered with the chart and run through Prometheus' own
``promtool test rules`` against the cases in prometheusrule.promtool.yaml.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tests import promtool
from tests.helm.helmkit import MINIMAL, NAMESPACE, Rendered, fullname, merge, render

CASES = Path(__file__).with_name("prometheusrule.promtool.yaml")
VALUES = merge(MINIMAL, {"prometheusRules": {"enabled": True}})


def _alerts(rendered: Rendered) -> dict[str, dict[str, Any]]:
    groups = rendered.one("PrometheusRule")["spec"]["groups"]
    return {rule["alert"]: rule for group in groups for rule in group["rules"]}


def _write_rule_tests(directory: Path, groups: list[dict[str, Any]]) -> Path:
    """rules.yaml (the rendered spec.groups) and the test cases beside it, with the YAML
    anchors resolved and the ``x-`` blocks that hold them dropped (promtool reads strictly)."""
    (directory / "rules.yaml").write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
    cases = yaml.safe_load(CASES.read_text())
    cases = {k: v for k, v in cases.items() if not k.startswith("x-")}
    cases["rule_files"] = ["rules.yaml"]
    path = directory / "tests.yaml"
    path.write_text(yaml.safe_dump(cases, sort_keys=False))
    return path


def test_collates_alerts_ship_beside_ours_with_collates_names_and_timing() -> None:
    rendered = render(VALUES)
    alerts = _alerts(rendered)
    assert set(alerts) == {
        "HybridRunnerDown",
        "HybridRunnerDisconnected",
        "HybridAgentDown",
        "HybridAgentDisconnected",
    }
    for name in ("HybridAgentDown", "HybridAgentDisconnected"):
        assert alerts[name]["for"] == "2m"
        assert alerts[name]["labels"] == {"severity": "critical"}
    # Scoped as Collate's are: the release's namespace and the runner's container, which is
    # the container that serves the metrics port.
    (container,) = [
        c["name"]
        for c in rendered.pod["spec"]["containers"]
        if any(p["name"] == "metrics" for p in c.get("ports", []))
    ]
    scope = f'{{namespace="{NAMESPACE}", container="{container}"}}'
    assert alerts["HybridAgentDown"]["expr"] == f"up{scope} == 0"
    assert alerts["HybridAgentDisconnected"]["expr"].startswith(
        f"collate_hybrid_agent_connected{scope} == 0"
    )
    groups = [g["name"] for g in rendered.one("PrometheusRule")["spec"]["groups"]]
    assert groups == [fullname(), f"{fullname()}-up"]


def test_the_alerts_follow_the_release_namespace() -> None:
    alerts = _alerts(render(VALUES, namespace="collate-runner-prod"))
    for rule in alerts.values():
        assert 'namespace="collate-runner-prod"' in rule["expr"]
        assert "argo-workflows" not in rule["expr"]


def test_extra_rule_groups_come_after_both_alert_groups() -> None:
    extra = {"name": "mine", "rules": [{"alert": "Mine", "expr": "vector(1)"}]}
    rendered = render(merge(VALUES, {"prometheusRules": {"extraRules": [extra]}}))
    groups = rendered.one("PrometheusRule")["spec"]["groups"]
    assert [g["name"] for g in groups][-1] == "mine"
    assert len(groups) == 3


def test_promtool_checks_and_unit_tests_the_shipped_rules(tmp_path: Path) -> None:
    groups = render(VALUES).one("PrometheusRule")["spec"]["groups"]
    tests = _write_rule_tests(tmp_path, groups)
    code, out = promtool.run("check", "rules", "rules.yaml", cwd=tmp_path)
    assert code == 0, out
    assert "SUCCESS: 4 rules found" in out, out
    code, out = promtool.run("test", "rules", tests.name, cwd=tmp_path)
    assert code == 0, out
    assert "SUCCESS" in out, out


def test_promtool_catches_a_collate_alert_that_waits_too_long(tmp_path: Path) -> None:
    """The rule tests can fail: HybridAgentDown held for 5m instead of Collate's 2m."""
    groups = render(VALUES).one("PrometheusRule")["spec"]["groups"]
    for rule in groups[1]["rules"]:
        if rule["alert"] == "HybridAgentDown":
            rule["for"] = "5m"
    tests = _write_rule_tests(tmp_path, groups)
    code, out = promtool.run("test", "rules", tests.name, cwd=tmp_path)
    assert code != 0
    assert "alertname: HybridAgentDown" in out, out


def test_collates_verbatim_disconnected_rule_would_page_for_a_standby_replica(
    tmp_path: Path,
) -> None:
    """Why HybridAgentDisconnected leaves standby replicas out: Collate's expression as its
    chart writes it fires for a second replica that stands by by design."""
    groups = render(VALUES).one("PrometheusRule")["spec"]["groups"]
    for rule in groups[1]["rules"]:
        if rule["alert"] == "HybridAgentDisconnected":
            rule["expr"] = rule["expr"].split(" unless ")[0]
    tests = _write_rule_tests(tmp_path, groups)
    code, out = promtool.run("test", "rules", tests.name, cwd=tmp_path)
    assert code != 0
    assert "a standby replica" in out, out
    assert "alertname: HybridAgentDisconnected" in out, out
