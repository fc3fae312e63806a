"""What the daemon's log lines show an operator: a traceback in the `exception` field of JSON
lines, a plain traceback on the console, never the local variables of a frame (an API key may
be one), for our own lines and for the libraries' lines that come through the standard library
(APScheduler's "Job raised an exception")."""

from __future__ import annotations

import io
import json
import logging

import pytest
import structlog

from scheduler.daemon.logs import configure_logging
from scheduler.emulator.faults import FaultRule
from tests.cli.conftest import World

SECRET = "sk-live-LOCAL-VARIABLE-1234"


def _fail_with_a_secret_local() -> None:
    api_key = SECRET
    raise ValueError(f"bad answer ({len(api_key)} characters)")


def _log_both_ways() -> None:
    try:
        _fail_with_a_secret_local()
    except ValueError:
        structlog.get_logger("spotsched.daemon").exception("tick_crashed")
    try:
        _fail_with_a_secret_local()
    except ValueError:
        logging.getLogger("apscheduler.executors.default").exception("Job raised an exception")


def test_json_lines_keep_the_traceback_in_the_exception_field() -> None:
    stream = io.StringIO()
    configure_logging("json", "info", stream)
    _log_both_ways()
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["event"] for line in lines] == ["tick_crashed", "Job raised an exception"]
    for line in lines:
        assert "Traceback (most recent call last)" in line["exception"]
        assert "_fail_with_a_secret_local" in line["exception"]
        assert "ValueError: bad answer" in line["exception"]
        assert "exc_info" not in line
    assert SECRET not in stream.getvalue()


@pytest.mark.parametrize("fmt", ["console", "auto"])
def test_console_tracebacks_are_plain_and_never_show_local_variables(fmt: str) -> None:
    stream = io.StringIO()  # not a terminal: "auto" means JSON, "console" the console renderer
    configure_logging(fmt, "info", stream)
    _log_both_ways()
    text = stream.getvalue()
    assert text.count("Traceback (most recent call last)") == 2
    assert "ValueError: bad answer" in text
    assert SECRET not in text
    assert "locals" not in text


# ------------------------------------------------------------------- one line per failing operation


def _tick_logging(world: World) -> list[dict]:
    """One daemon tick with the daemon's default log level, its lines as JSON objects."""
    stream = io.StringIO()
    configure_logging("json", "info", stream)
    world.emu.advance(30)
    world.service.tick()
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_an_outage_logs_one_line_per_failing_operation_with_the_attempt_count(
    running: World,
) -> None:
    running.emu.inject_faults(FaultRule(kind="http_503"))
    for _ in range(3):
        lines = _tick_logging(running)
        assert [line["event"] for line in lines] == ["market_poll_failed", "pod_list_failed"]
        for line in lines:
            error = str(line["error"])
            assert "HTTP 503" in error and error.endswith("(gave up after 4 attempts)")


def test_failing_actions_of_one_kind_are_one_line_with_a_count(running: World) -> None:
    for name in ("second", "third"):
        running.submit(name)
    running.tick()
    running.tick()
    assert {j["state"] for j in running.service.store.list_jobs()} == {"running"}
    for job in running.service.store.list_jobs():
        running.service.store.request_cancel(job["id"], running.clock.now())
    running.emu.inject_faults(  # the terminate over either API (`auto` deletes over REST v2)
        FaultRule(kind="http_503", match="podTerminate"),
        FaultRule(kind="http_503", match="deletePod"),
    )
    lines = _tick_logging(running)
    failed = [line for line in lines if line["level"] in ("warning", "error")]
    assert len(failed) == 1, failed
    assert failed[0]["event"] == "action_failed" and failed[0]["count"] == 3
    assert failed[0]["action"] == "EndAttempt" and "gave up after 4 attempts" in failed[0]["error"]
