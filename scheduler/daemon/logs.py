"""structlog setup: JSON lines under systemd/Docker (stdout not a terminal), readable console
lines on a terminal. Event names are stable snake_case; values are key-value pairs.

Tracebacks, ours and those of libraries logging through the standard library (APScheduler's
"Job raised an exception"), are plain text in both formats: the `exception` field of a JSON
line, indented lines on the console. Never rich's pretty tracebacks, whose `show_locals` would
print local variables, an API key among them."""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

import structlog

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}


def configure_logging(fmt: str = "auto", level: str = "info", stream: TextIO | None = None) -> None:
    stream = stream or sys.stderr
    use_json = fmt == "json" or (fmt == "auto" and not stream.isatty())
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if use_json
        else structlog.dev.ConsoleRenderer(
            colors=stream.isatty(), exception_formatter=structlog.dev.plain_traceback
        )
    )
    # Libraries that log through the standard library (APScheduler: "tick skipped") come out
    # in the same format as our own lines.
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processor=renderer,
            foreign_pre_chain=[
                structlog.processors.add_log_level,
                structlog.processors.TimeStamper(fmt="iso", utc=True),
                structlog.processors.format_exc_info,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(max(_LEVELS[level], logging.WARNING))  # httpx, alembic: only problems
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level]),
        logger_factory=structlog.PrintLoggerFactory(file=stream),
        cache_logger_on_first_use=False,
    )


def silence_logging() -> None:
    """For the demo and backtests: only warnings and errors, to stderr."""
    configure_logging("console", "error")
