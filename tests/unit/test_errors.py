"""One exceptions module: every error under one base, drawn in its docstring, one exit code each."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re

import pytest

import orchestrator_telemetry
from orchestrator_telemetry import errors
from orchestrator_telemetry.errors import ExitCode, TelemetryError, exit_code

TREE_LINE = re.compile(r"^(?P<indent>[ │├└─]*)(?P<name>[A-Z]\w+)\s+(?P<code>\d)?")


def drawn_tree() -> dict[str, tuple[str | None, int | None]]:
    """Each class the docstring draws: its drawn parent and the exit code written beside it."""
    block = (errors.__doc__ or "").split("::", 1)[1].split("\n\n")[1]
    drawn: dict[str, tuple[str | None, int | None]] = {}
    parents: list[tuple[int, str]] = []
    for line in block.splitlines():
        match = TREE_LINE.match(line[4:])
        assert match, f"unreadable tree line: {line!r}"
        depth = len(match["indent"])
        while parents and parents[-1][0] >= depth:
            parents.pop()
        code = int(match["code"]) if match["code"] else None
        drawn[match["name"]] = (parents[-1][1] if parents else None, code)
        parents.append((depth, match["name"]))
    return drawn


def package_modules() -> list[str]:
    """Every module of the package but the entry point that runs the command line on import."""
    return [
        module.name
        for module in pkgutil.walk_packages(
            orchestrator_telemetry.__path__, "orchestrator_telemetry."
        )
        if not module.name.endswith("__main__")
    ]


def test_the_docstring_draws_every_error_class_under_its_real_parent() -> None:
    defined = {
        name: kind
        for name, kind in vars(errors).items()
        if inspect.isclass(kind) and issubclass(kind, TelemetryError)
    }

    drawn = drawn_tree()

    assert set(drawn) == set(defined)
    for name, (parent, _) in drawn.items():
        expected = defined[parent] if parent else Exception
        assert defined[name].__bases__ == (expected,), name


def test_each_error_ends_a_command_with_the_code_drawn_beside_it_or_its_parents() -> None:
    drawn = drawn_tree()
    for name, (_, code) in drawn.items():
        kind = getattr(errors, name)
        inherited = next(
            drawn[ancestor.__name__][1]
            for ancestor in kind.__mro__
            if ancestor.__name__ in drawn and drawn[ancestor.__name__][1] is not None
        )
        error = kind.__new__(kind)
        assert exit_code(error) == (code if code is not None else inherited), name


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (errors.ConfigError(["database.url: missing"]), ExitCode.BAD_CONFIG),
        (errors.ExportInvalid("not an export"), ExitCode.BAD_CONFIG),
        (errors.TransientCollectError(["Summary.clusters"], "lock wait"), ExitCode.UNAVAILABLE),
        (errors.KubernetesError("configmap: 403", status=403), ExitCode.UNAVAILABLE),
        (errors.SandboxError("initdb not found"), ExitCode.UNAVAILABLE),
        (errors.RejectedError("HTTP 400: Invalid event"), ExitCode.NOT_DELIVERED),
        (errors.PayloadInvalid("ucid: required"), ExitCode.NOT_DELIVERED),
    ],
)
def test_errors_map_to_the_documented_exit_codes(error: TelemetryError, code: ExitCode) -> None:
    assert exit_code(error) == code


def test_no_other_module_defines_an_exception() -> None:
    elsewhere = [
        f"{name}.{member.__name__}"
        for name in package_modules()
        for member in vars(importlib.import_module(name)).values()
        if inspect.isclass(member)
        and issubclass(member, BaseException)
        and member.__module__ == name
        and name != errors.__name__
    ]

    assert elsewhere == []
