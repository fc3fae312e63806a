"""Intents of every mutating pod call, honest job outcomes, missed deadlines (issue 8, section 2).

A slot reserved so that parallel work on issue 8 keeps one linear history; filled in by the
change that needs it.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
