"""This database's installation id, and the pods its attempts recorded: what makes a pod ours.

Several spotsched installations may share one RunPod account; a pod is this installation's when
its name carries the id kept here or when an attempt row recorded its pod id (the rule is in
`scheduler.domain.views`). Migration 0004 creates the id; `installation_id` creates one too if
the row is missing (a database restored without it), and never changes an existing one.

What it must not do: guess. A value that is not an installation id is an error naming the row,
never replaced silently (a new id would turn every pod we own into a stranger's).
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session

from scheduler.domain.errors import SpotschedError
from scheduler.domain.views import is_installation_id
from scheduler.store.tables import AttemptRow, DaemonStateRow

KEY = "installation_id"
"""The `daemon_state` row that holds the id."""
_LENGTH = 10
_IDS_PER_STATEMENT = 500

_FACTS = DaemonStateRow.metadata.tables["daemon_state"]
_ATTEMPTS = AttemptRow.metadata.tables["attempts"]


class InstallationIdInvalid(SpotschedError):
    """daemon_state.installation_id is not an installation id."""


def new_installation_id() -> str:
    """A fresh random id: a letter, then letters and digits (about 50 bits)."""
    first = secrets.choice(string.ascii_lowercase)
    alphabet = string.ascii_lowercase + string.digits
    return first + "".join(secrets.choice(alphabet) for _ in range(_LENGTH - 1))


def read_installation(session: Session) -> str | None:
    """The id, or None when the database has none yet."""
    value = session.connection().execute(select(_FACTS.c.value).where(_FACTS.c.key == KEY))
    row = value.first()
    if row is None:
        return None
    text = row[0]
    if not isinstance(text, str) or not is_installation_id(text):
        raise InstallationIdInvalid(
            "daemon_state.installation_id is not an installation id (lowercase letters and"
            " digits, a letter first, 6-20 characters); restore the original value"
        )
    return text


def installation_id(session: Session, now: datetime) -> str:
    """The id, created first if the database has none (concurrent creators agree on one)."""
    found = read_installation(session)
    if found is not None:
        return found
    insert = sqlite_insert if session.get_bind().dialect.name == "sqlite" else pg_insert
    session.connection().execute(
        insert(_FACTS)
        .values(key=KEY, value=new_installation_id(), updated_at=now)
        .on_conflict_do_nothing(index_elements=[_FACTS.c.key])
    )
    created = read_installation(session)
    assert created is not None
    return created


def recorded_pods(session: Session, pod_ids: Iterable[str]) -> frozenset[str]:
    """Of these RunPod pod ids, those an attempt of this database recorded (ours, whatever
    their names say)."""
    ids = sorted(set(pod_ids))
    found: set[str] = set()
    connection = session.connection()
    for start in range(0, len(ids), _IDS_PER_STATEMENT):
        chunk = ids[start : start + _IDS_PER_STATEMENT]
        found.update(
            connection.execute(
                select(_ATTEMPTS.c.pod_id).where(_ATTEMPTS.c.pod_id.in_(chunk))
            ).scalars()
        )
    return frozenset(found)
