"""`pip install .` gives everything the daemon needs at run time, migrations included."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from orchestrator_telemetry import schemas

pytestmark = pytest.mark.integration

ROOT = Path(__file__).parents[2]
PACKAGE = "orchestrator_telemetry"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--wheel-dir",
            str(out),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    [built] = out.glob("orchestrator_telemetry-*.whl")
    return zipfile.ZipFile(built)


def test_the_wheel_carries_the_migrations_inside_the_package(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())

    assert "orchestrator_telemetry/migrations/env.py" in names
    assert "orchestrator_telemetry/migrations/script.py.mako" in names
    assert "orchestrator_telemetry/migrations/versions/0001_initial.py" in names


def test_the_wheel_carries_the_demo_schema_and_type_information(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())

    assert "orchestrator_telemetry/sandbox/devtron_schema.sql" in names
    assert "orchestrator_telemetry/py.typed" in names


def test_the_wheel_carries_the_collecting_package_and_every_generated_json_schema(
    wheel: zipfile.ZipFile,
) -> None:
    names = set(wheel.namelist())

    assert "orchestrator_telemetry/collect/catalogue.py" in names
    for name, schema in schemas.generated().items():
        shipped = json.loads(wheel.read(f"orchestrator_telemetry/payload_schemas/{name}"))
        assert shipped == schema, name


def test_the_wheel_declares_the_console_script(wheel: zipfile.ZipFile) -> None:
    [entry_points] = [name for name in wheel.namelist() if name.endswith("entry_points.txt")]

    text = wheel.read(entry_points).decode()
    assert "orchestrator-telemetry = orchestrator_telemetry.cli:main" in text


def test_the_wheel_ships_no_tests_or_benchmarks(wheel: zipfile.ZipFile) -> None:
    tops = {name.split("/")[0] for name in wheel.namelist()}

    assert not {"tests", "bench", "migrations"} & tops


def test_the_wheel_carries_exactly_the_packages_modules_and_its_migrations(
    wheel: zipfile.ZipFile,
) -> None:
    shipped = {name for name in wheel.namelist() if name.endswith(".py")}
    package = {path.relative_to(ROOT).as_posix() for path in (ROOT / PACKAGE).rglob("*.py")}
    migrations = {
        f"{PACKAGE}/migrations/{path.relative_to(ROOT / 'migrations').as_posix()}"
        for path in (ROOT / "migrations").rglob("*.py")
    }

    # A module left behind by an earlier layout (a stale build/ folder) would ship as well.
    assert shipped == package | migrations
