"""One reconcile tick: observe (store, RunPod), decide (pure policy), apply, record."""

from scheduler.reconcile.reconciler import Reconciler, ReconcilerSettings, TickReport

__all__ = ["Reconciler", "ReconcilerSettings", "TickReport"]
