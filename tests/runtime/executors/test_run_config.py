"""INGESTION_DISABLE_VERSION_VALIDATION on the server connection of every run's config."""

from __future__ import annotations

import copy
import json
from typing import Any

from runtime.executors.run_config import server_connections, with_version_validation
from tests.conftest import MESSAGES


def frame(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((MESSAGES / name).read_text())
    return data


def test_off_leaves_the_config_as_the_server_sent_it() -> None:
    config = frame("run_pipeline.json")["config"]
    assert with_version_validation(config, "pipeline", disabled=False) is config


def test_a_pipeline_config_gets_enable_version_validation_false() -> None:
    config = frame("run_pipeline.json")["config"]
    config["workflowConfig"]["openMetadataServerConfig"]["enableVersionValidation"] = True
    before = copy.deepcopy(config)
    out = with_version_validation(config, "pipeline", disabled=True)
    assert out["workflowConfig"]["openMetadataServerConfig"]["enableVersionValidation"] is False
    assert (
        out["workflowConfig"]["openMetadataServerConfig"]["hostPort"]
        == (before["workflowConfig"]["openMetadataServerConfig"]["hostPort"])
    )
    assert config == before, "the request is not modified in place"


def test_a_pipeline_config_without_a_server_connection_gets_one() -> None:
    out = with_version_validation({"source": {}}, "pipeline", disabled=True)
    assert out["workflowConfig"] == {"openMetadataServerConfig": {"enableVersionValidation": False}}


def test_every_connection_of_an_automation_workflow() -> None:
    workflow = frame("test_connection.json")["workflow"]
    workflow.setdefault("request", {})["openMetadataServerConnection"] = {"hostPort": "x"}
    out = with_version_validation(workflow, "automation", disabled=True)
    connections = server_connections(out, "automation")
    assert len(connections) == 2
    assert all(c["enableVersionValidation"] is False for c in connections)


def test_odd_shapes_are_left_alone() -> None:
    assert server_connections({"workflowConfig": "x"}, "pipeline") == []
    assert server_connections({"request": [1]}, "automation") == []
    out = with_version_validation({"workflowConfig": []}, "pipeline", disabled=True)
    assert out == {"workflowConfig": []}
