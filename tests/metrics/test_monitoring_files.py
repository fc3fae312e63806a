"""The shipped dashboard and alert rules read only series the daemon really exports.

Every PromQL expression of `monitoring/grafana-dashboard.json` and `monitoring/alerts.yml` is
reduced to its metric names, and each must be a sample name of a live /metrics scrape of a
daemon-like run (see `live_scrape`). Prometheus's own `up` is the one name allowed besides.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.metrics.conftest import MONITORING, sample_names
from tests.metrics.promql import metric_names, rule_exprs

PROMETHEUS_OWN = {"up"}


def _dashboard() -> dict[str, Any]:
    return json.loads((MONITORING / "grafana-dashboard.json").read_text())


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for p in panels:
        yield p
        yield from _panels(p.get("panels", []))


def dashboard_exprs() -> list[tuple[str, str]]:
    d = _dashboard()
    out = [
        (f"panel {p['title']!r}", t["expr"])
        for p in _panels(d["panels"])
        for t in p.get("targets", [])
    ]
    for var in d["templating"]["list"]:
        if var["type"] == "query":
            out.append((f"variable {var['name']}", var["query"]["query"]))
    return out


def alert_exprs() -> list[tuple[str, str]]:
    return [(f"alert {a}", e) for a, e in rule_exprs((MONITORING / "alerts.yml").read_text())]


def test_the_extractor_finds_names_and_only_names() -> None:
    assert metric_names(
        'histogram_quantile(0.9, sum by (le, kind) (rate(x_bucket{a="b(c)", d=~"$v"}'
        "[$__rate_interval])))"
    ) == {"x_bucket"}
    assert metric_names("up{job='s'} == 0 or absent(up{job='s'})") == {"up"}
    assert metric_names("sum without (kind) (a_total offset 5m) / on (instance) b > 1e3") == {
        "a_total",
        "b",
    }
    assert metric_names("time() - last_seconds") == {"last_seconds"}
    assert metric_names('label_values(m{instance=~"$instance"}, gpu_type)') == {"m"}
    assert metric_names("a > bool 2 unless c") == {"a", "c"}


def test_every_alert_rule_is_read_whole() -> None:
    rules = dict(rule_exprs((MONITORING / "alerts.yml").read_text()))
    assert len(rules) == 10  # as `promtool check rules` counts them (test_promtool.py)
    assert rules["SpotschedDown"] == 'up{job="spotsched"} == 0 or absent(up{job="spotsched"})'
    assert rules["SpotschedSpendRateOverCap"] == (
        "sum by (instance, job) (rate(spotsched_spend_dollars_total[15m])) * 3600"
        " > spotsched_spend_rate_cap_dollars_per_hour"
    )


@pytest.mark.parametrize(
    ("where", "expr"), dashboard_exprs() + alert_exprs(), ids=lambda v: str(v)[:60]
)
def test_every_query_reads_exported_series(live_scrape: str, where: str, expr: str) -> None:
    names = metric_names(expr)
    assert names, f"{where}: no metric name found in {expr!r}"
    missing = names - sample_names(live_scrape) - PROMETHEUS_OWN
    assert not missing, f"{where} reads {sorted(missing)}, which /metrics does not export"


def test_dashboard_is_importable_with_the_datasource_as_a_variable() -> None:
    d = _dashboard()
    assert d["uid"] == "spotsched" and d["title"]
    variables = {v["name"]: v for v in d["templating"]["list"]}
    assert variables["DS_PROMETHEUS"]["type"] == "datasource"
    assert variables["DS_PROMETHEUS"]["query"] == "prometheus"
    ids = [p["id"] for p in _panels(d["panels"])]
    assert len(ids) == len(set(ids))
    for p in _panels(d["panels"]):
        if p["type"] == "row":
            continue
        assert p["datasource"] == {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}, p["title"]
        assert p["targets"], p["title"]
        for t in p["targets"]:
            assert t["datasource"]["uid"] == "${DS_PROMETHEUS}"
    titles = " | ".join(p["title"].lower() for p in _panels(d["panels"]))
    for topic in (
        "burn rate",
        "budget",
        "savings",
        "spot bid vs on-demand",
        "gpu-hours",
        "preemptions",
        "queue",
        "jobs by state",
        "api errors",
    ):
        assert topic in titles


def test_series_of_a_daemon_with_twelve_gpu_types(live_scrape: str) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    series = [
        s
        for f in text_string_to_metric_families(live_scrape)
        for s in f.samples
        if s.name.startswith("spotsched_")
    ]
    created = [s for s in series if s.name.endswith("_created")]
    gpus = {s.labels["gpu_type"] for s in series if "gpu_type" in s.labels}
    print(
        f"\nspotsched series with {len(gpus)} GPU types: {len(series)} "
        f"({len(created)} of them *_created)"
    )
    assert len(gpus) == 12
    assert len(series) < 600
    for s in series:
        for forbidden in ("job_id", "pod_id", "pod_name", "attempt_id"):
            assert forbidden not in s.labels
