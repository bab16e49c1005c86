"""The installation id: configured, else generated once and shared by every replica."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

import pytest
import structlog.testing
from sqlalchemy import Engine

from orchestrator_telemetry.collect.identity import generate_ucid, resolve_ucid, stored_ucid

pytestmark = pytest.mark.integration


def test_generated_ids_have_devtrons_format() -> None:
    ids = {generate_ucid() for _ in range(200)}

    assert all(re.fullmatch(r"[a-z0-9]{16}", ucid) for ucid in ids)
    assert len(ids) == 200


def test_a_configured_ucid_wins_and_is_stored_quietly(state: Engine) -> None:
    with structlog.testing.capture_logs() as logged:
        resolved = resolve_ucid("abcdefgh12345678", state)

    assert resolved == "abcdefgh12345678"
    assert stored_ucid(state) == "abcdefgh12345678"
    assert not [line for line in logged if line["log_level"] == "error"]


def test_a_start_resolving_another_ucid_uses_it_and_names_both_in_an_error(state: Engine) -> None:
    generated = resolve_ucid(None, state)

    with structlog.testing.capture_logs() as logged:
        resolved = resolve_ucid("abcdefgh12345678", state)

    assert resolved == "abcdefgh12345678"
    assert stored_ucid(state) == "abcdefgh12345678"
    [error] = [line for line in logged if line["log_level"] == "error"]
    assert (error["stored_ucid"], error["resolved_ucid"]) == (generated, "abcdefgh12345678")


def test_a_ucid_from_the_configmap_is_stored_like_a_configured_one(state: Engine) -> None:
    resolved = resolve_ucid(None, state, configmap=lambda generate: "fromconfigmap000")

    assert resolved == "fromconfigmap000"
    assert stored_ucid(state) == "fromconfigmap000"


def test_the_first_start_generates_and_stores_an_id_that_restarts_reuse(state: Engine) -> None:
    first = resolve_ucid(None, state)

    assert stored_ucid(state) == first
    assert resolve_ucid(None, state) == first


def test_replicas_starting_together_agree_on_one_id(state: Engine) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        ids = set(pool.map(lambda _: resolve_ucid(None, state), range(16)))

    assert len(ids) == 1
