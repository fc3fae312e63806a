"""Where the RunPod API key comes from: `RUNPOD_API_KEY`, the systemd credential
`runpod-api-key`, or `runpod.api_key_file`. The key is returned, never logged or stored.

A key is checked where it is read (one line of printable ASCII, see
`scheduler.runpod.secret.problem_with_key`); a bad one is a `ConfigError` naming its source
(the variable, the credential or the file), never the key."""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from scheduler.daemon.config import ConfigError, Settings
from scheduler.runpod.secret import problem_with_key

CREDENTIAL_NAME = "runpod-api-key"
MAX_KEY_FILE_BYTES = 8192


@dataclass(frozen=True)
class ApiKey:
    value: str | None = field(repr=False)
    source: str
    warnings: tuple[str, ...] = ()

    def __repr__(self) -> str:
        return f"ApiKey(source={self.source!r}, value={'***' if self.value else None})"


def _checked(value: str, source: str) -> str:
    """`value` without surrounding whitespace (a file's final newline), if it can be a key."""
    key = value.strip()
    problem = problem_with_key(key)
    if problem is not None:
        raise ConfigError(f"the RunPod API key from {source} {problem}")
    return key


def _read(path: Path, what: str) -> tuple[str, list[str]]:
    warnings: list[str] = []
    try:
        mode = path.stat().st_mode
        if not stat.S_ISREG(mode):
            raise ConfigError(f"{what} {path} is not a regular file")
        with path.open("rb") as f:  # at most a little more than a key can be: not /dev/zero
            raw = f.read(MAX_KEY_FILE_BYTES + 1)
        if len(raw) > MAX_KEY_FILE_BYTES:
            raise ConfigError(f"{what} {path} is larger than {MAX_KEY_FILE_BYTES} bytes")
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(
            f"the RunPod API key from {what} {path} is not UTF-8 text; keys are printable ASCII"
        ) from None
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc.strerror}") from None
    if mode & (stat.S_IRGRP | stat.S_IROTH):
        warnings.append(f"{what} {path} is readable by other users; chmod 600 it")
    if not text.strip():
        raise ConfigError(f"{what} {path} is empty")
    return _checked(text, f"{what} {path}"), warnings


def load_api_key(settings: Settings, environ: Mapping[str, str] | None = None) -> ApiKey:
    environ = os.environ if environ is None else environ
    # Set but empty counts as unset (compose files pass `${RUNPOD_API_KEY}` through empty);
    # set to blanks or to anything that cannot be a key is an error.
    if environ.get("RUNPOD_API_KEY"):
        key = _checked(environ["RUNPOD_API_KEY"], "the environment variable RUNPOD_API_KEY")
        return ApiKey(key, "env RUNPOD_API_KEY")
    cred_dir = environ.get("CREDENTIALS_DIRECTORY")
    if cred_dir and (Path(cred_dir) / CREDENTIAL_NAME).exists():
        value, warnings = _read(Path(cred_dir) / CREDENTIAL_NAME, "systemd credential")
        return ApiKey(value, f"systemd credential {CREDENTIAL_NAME}", tuple(warnings))
    if settings.runpod.api_key_file:
        value, warnings = _read(Path(settings.runpod.api_key_file), "api_key_file")
        return ApiKey(value, "api_key_file", tuple(warnings))
    return ApiKey(None, "none")
