"""promtool, the checker Prometheus ships: the rules, their unit tests, the example config,
and the lint of a live /metrics text (piped to `promtool check metrics` on stdin)."""

from __future__ import annotations

import subprocess

from tests.metrics.conftest import MONITORING, tool


def _promtool(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tool("promtool"), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=MONITORING,
        check=False,
    )


def test_alert_rules_are_valid() -> None:
    run = _promtool("check", "rules", "alerts.yml")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "SUCCESS: 10 rules found" in run.stdout


def test_alert_rule_unit_tests_pass() -> None:
    run = _promtool("test", "rules", "alerts.test.yml")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "SUCCESS" in run.stdout


def test_example_prometheus_config_is_valid() -> None:
    run = _promtool("check", "config", "prometheus.yml")
    assert run.returncode == 0, run.stdout + run.stderr


def test_live_metrics_pass_promtool_lint(live_scrape: str) -> None:
    run = _promtool("check", "metrics", stdin=live_scrape)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.strip() == "" and run.stderr.strip() == "", run.stdout + run.stderr
