"""The README's payload examples are exactly what the builders produce."""

from __future__ import annotations

import argparse
import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any

from orchestrator_telemetry import cli, events
from orchestrator_telemetry.config import env_name, keys

README = (Path(__file__).parents[2] / "README.md").read_text()


def examples() -> dict[str, dict[str, Any]]:
    blocks = [json.loads(block) for block in re.findall(r"```json\n(.*?)```", README, re.DOTALL)]
    return {block["event"]: block for block in blocks}


def rebuild(example: dict[str, Any]) -> dict[str, Any]:
    properties = example["properties"]
    versions = events.Versions(properties["devtronVersion"], properties["serverVersion"])
    slot = datetime.fromisoformat(example["timestamp"])
    if example["event"] == "Summary":
        event = events.summary(properties["ucid"], versions, slot, properties["summary"])
    else:
        event = events.heartbeat(properties["ucid"], versions, slot)
    return event.to_capture()


def test_the_heartbeat_example_is_what_the_daemon_builds() -> None:
    example = examples()["Heartbeat"]

    assert rebuild(example) == example


def test_the_summary_example_is_what_the_daemon_builds() -> None:
    example = examples()["Summary"]

    assert rebuild(example) == example
    assert json.dumps(rebuild(example)) == json.dumps(example)  # key order too


def test_the_configuration_table_lists_every_key_and_variable() -> None:
    for section, key in keys():
        assert f"| `{section}.{key}` | `{env_name(section, key)}`" in README


def test_every_command_is_in_the_readmes_command_table() -> None:
    [commands] = [
        action
        for action in cli._parser()._actions
        if isinstance(action, argparse._SubParsersAction)
    ]

    for name in commands.choices:
        assert f"| `{name}" in README, f"{name} is not documented in the README's command table"


def test_every_test_the_guarantees_name_exists() -> None:
    tests = Path(__file__).parents[1]
    named = re.findall(r"`((?:tests/\w+/)?\w+\.py)::(\w+)`", README)

    assert len(named) > 30
    for path, name in named:
        file = tests.parent / path if path.startswith("tests/") else tests / "integration" / path
        assert f"def {name}(" in file.read_text(), f"{path}::{name} is named but not defined"
