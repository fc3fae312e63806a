"""Persistence: SQL tables, compare-and-set transitions, the spend ledger, migrations."""

from scheduler.store.engine import open_engine
from scheduler.store.ledger import Observation
from scheduler.store.store import JobNotFound, Store
from scheduler.store.transitions import StaleState

__all__ = ["JobNotFound", "Observation", "StaleState", "Store", "open_engine"]
