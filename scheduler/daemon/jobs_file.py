"""Jobs TOML files: `[[job]]` tables, all validated before anything is written."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from scheduler.domain.job import JobInputError, JobSpec, parse_job


class JobsFileError(JobInputError):
    """The jobs file is not valid."""


def read_toml(path: Path, error: type[JobInputError]) -> dict[str, Any]:
    """The file's TOML, or `error` saying why it cannot be read or parsed."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise error([("file", f"cannot read {path}: {exc.strerror}")], str(path)) from None
    except tomllib.TOMLDecodeError as exc:
        raise error([("file", f"not valid TOML: {exc}")], str(path)) from None


def load_jobs_file(path: str | Path) -> list[JobSpec]:
    """Every job in the file, or `JobsFileError` listing every problem (nothing is partial)."""
    p = Path(path)
    data = read_toml(p, JobsFileError)
    unknown = sorted(set(data) - {"job"})
    problems: list[tuple[str, str]] = [
        (k, "unknown top-level key (use [[job]] tables)") for k in unknown
    ]
    tables = data.get("job", [])
    if not isinstance(tables, list):
        problems.append(("job", "use [[job]] tables"))
        tables = []
    specs: list[JobSpec] = []
    names: set[str] = set()
    for i, table in enumerate(tables, start=1):
        label = f"job[{i}]" + (
            f" ({table.get('name')})" if isinstance(table, dict) and table.get("name") else ""
        )
        if not isinstance(table, dict):
            problems.append((label, "each [[job]] entry must be a table"))
            continue
        try:
            spec = parse_job(table, known_gpu_types_only=True)
        except JobInputError as exc:
            problems.extend((f"{label}.{f}", m) for f, m in exc.problems)
            continue
        if spec.name in names:
            problems.append((f"{label}.name", f"{spec.name!r} appears twice in the file"))
        names.add(spec.name)
        specs.append(spec)
    if not tables and not problems:
        problems.append(("job", "the file has no [[job]] tables"))
    if problems:
        raise JobsFileError(problems, str(p))
    return specs
