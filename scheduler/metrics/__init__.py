"""Prometheus metrics and the `/metrics` + `/healthz` endpoint of the daemon.

`Metrics` holds every `spotsched_*` series on an injected `CollectorRegistry`; `Service` feeds
it; `MetricsServer` serves it. Imports reconcile, runpod and domain types; `daemon` imports it.
"""

from scheduler.metrics.health import health_problem
from scheduler.metrics.metrics import Metrics
from scheduler.metrics.server import MetricsServer, make_app

__all__ = ["Metrics", "MetricsServer", "health_problem", "make_app"]
