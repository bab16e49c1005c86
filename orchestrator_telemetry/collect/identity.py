"""Where the installation's ucid comes from: configuration, Devtron's ConfigMap, own table."""

from __future__ import annotations

import secrets
import string
from collections.abc import Callable

import structlog
from sqlalchemy import Engine, select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from ..state.tables import identity

log = structlog.get_logger(__name__)

_ALPHABET = string.ascii_lowercase + string.digits
UCID_LENGTH = 16


def generate_ucid() -> str:
    """A fresh id in Devtron's format: 16 characters from [a-z0-9]."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(UCID_LENGTH))


def stored_ucid(engine: Engine) -> str | None:
    """The ucid recorded in the daemon's own table, if any."""
    with engine.connect() as connection:
        ucid: str | None = connection.scalar(select(identity.c.ucid).where(identity.c.id == 1))
    return ucid


def resolve_ucid(
    configured: str | None,
    engine: Engine,
    configmap: Callable[[Callable[[], str]], str] | None = None,
) -> str:
    """The configured ucid, else Devtron's ConfigMap (in a cluster), else the daemon's own table.

    Whichever wins is stored in the daemon's table. A start that resolves another ucid than the
    stored one says so loudly: two installations may be sharing one state database.
    """
    if configured:
        return _remember(engine, configured)
    if configmap is not None:
        # The ConfigMap is what the orchestrator always reported as: the same installation.
        return _remember(engine, configmap(generate_ucid))
    candidate = generate_ucid()
    with engine.begin() as connection:
        # Concurrent first starts race here; the single-row key lets exactly one id win.
        connection.execute(
            pg_insert(identity).values(id=1, ucid=candidate).on_conflict_do_nothing()
        )
        ucid: str = connection.execute(
            select(identity.c.ucid).where(identity.c.id == 1)
        ).scalar_one()
    if ucid == candidate:
        log.info("generated a new installation id", ucid=ucid)
    return ucid


def _remember(engine: Engine, resolved: str) -> str:
    """Store `resolved` as the installation's ucid; report a change from the stored one."""
    with engine.begin() as connection:
        previous: str | None = connection.execute(
            pg_insert(identity)
            .values(id=1, ucid=resolved)
            .on_conflict_do_update(index_elements=[identity.c.id], set_={"ucid": resolved})
            # The old value, read in the same statement: FROM the conflicting row before update.
            .returning(select(identity.c.ucid).where(identity.c.id == 1).scalar_subquery())
        ).scalar_one()
    if previous is not None and previous != resolved:
        log.error(
            "the installation id changed; reporting as the new one. Two installations may share"
            " this state database: give each its own state.schema or state.url",
            stored_ucid=previous,
            resolved_ucid=resolved,
        )
    return resolved
