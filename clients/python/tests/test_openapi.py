"""The client against daemon/openapi.yaml: every operation has a method,
every method's operation exists, and the wire dataclasses have exactly the
schemas' properties, so that the spec and the client cannot drift."""

from __future__ import annotations

import dataclasses
from typing import Any, Dict

import pytest
import yaml

import graft_client
from conftest import REPO
from graft_client import OPERATIONS, Attempt, Client, Event, JobRequest, Job, Model, Progress

SPEC: Dict[str, Any] = yaml.safe_load((REPO / "daemon" / "openapi.yaml").read_text())
METHODS = {"get", "post", "put", "patch", "delete"}


def test_every_operation_has_a_method_and_back() -> None:
    ops = {f"{m.upper()} {p}" for p, item in SPEC["paths"].items() for m in item if m in METHODS}
    assert ops == set(OPERATIONS), f"spec only: {ops - set(OPERATIONS)}; client only: {set(OPERATIONS) - ops}"
    for name in OPERATIONS.values():
        assert callable(getattr(Client, name, None)), name


def props(schema: Dict[str, Any]) -> set:
    return set(schema.get("properties", {}))


@pytest.mark.parametrize(
    "cls,schema",
    [
        (JobRequest, SPEC["components"]["schemas"]["JobRequest"]),
        (Job, SPEC["components"]["schemas"]["Job"]),
        (Attempt, SPEC["components"]["schemas"]["Attempt"]),
        (Progress, SPEC["components"]["schemas"]["Job"]["properties"]["progress"]),
        (Event, SPEC["components"]["schemas"]["Event"]),
        (Model, SPEC["components"]["schemas"]["Model"]),
        (graft_client.FieldError, SPEC["components"]["schemas"]["Error"]["properties"]["fields"]["items"]),
    ],
    ids=lambda x: getattr(x, "__name__", ""),
)
def test_dataclass_fields_are_the_schema_properties(cls: type, schema: Dict[str, Any]) -> None:
    fields = {f.name for f in dataclasses.fields(cls)}
    assert fields == props(schema), f"spec only: {props(schema) - fields}; client only: {fields - props(schema)}"


def test_job_request_requires_what_the_spec_requires() -> None:
    req = SPEC["components"]["schemas"]["JobRequest"]["required"]
    no_default = {f.name for f in dataclasses.fields(JobRequest) if f.default is dataclasses.MISSING}
    assert no_default == set(req)


def test_states_are_the_spec_enum() -> None:
    assert list(graft_client.STATES) == SPEC["components"]["schemas"]["State"]["enum"]
