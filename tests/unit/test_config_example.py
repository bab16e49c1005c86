"""config.example.yaml documents every key, with its variable, and loads as it is."""

from __future__ import annotations

from pathlib import Path

import yaml

from orchestrator_telemetry.config import Settings, env_name, keys, load

EXAMPLE = Path(__file__).parents[2] / "config.example.yaml"


def test_the_example_loads() -> None:
    load(EXAMPLE, {})


def test_the_example_names_every_key_and_its_variable() -> None:
    data = yaml.safe_load(EXAMPLE.read_text())
    text = EXAMPLE.read_text()

    for section, key in keys():
        assert key in data[section], f"{section}.{key} missing from config.example.yaml"
        assert env_name(section, key) in text, f"{env_name(section, key)} not documented"


def test_the_example_shows_the_defaults() -> None:
    data = yaml.safe_load(EXAMPLE.read_text())
    defaults = Settings().model_dump(by_alias=True)

    for section, key in keys():
        if (section, key) in {("database", "url")}:
            continue  # the example shows a URL; there is no default
        assert data[section][key] == defaults[section][key], f"{section}.{key}"
