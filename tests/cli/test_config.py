"""The configuration people write: the example file cannot drift from `Settings`, bad files and
bad environment values are exit 2 naming the key and where it came from, `check-config`
validates a jobs file, and a key file others can read is warned about."""

from __future__ import annotations

import re
import types
import typing
from pathlib import Path

import pytest
from pydantic import BaseModel

from scheduler.daemon.config import ForeignIdleSection, Settings, load_settings
from tests.cli.conftest import ALL_INTERFACES, KEY, spotsched, write_config

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config" / "spotsched.example.toml"


def _section_model(annotation: object) -> type[BaseModel] | None:
    """The section model behind `RunPodSection` or `ForeignIdleSection | None`, else None."""
    candidates = (
        typing.get_args(annotation)
        if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union
        else (annotation,)
    )
    for c in candidates:
        if isinstance(c, type) and issubclass(c, BaseModel):
            return c
    return None


def _sections(text: str) -> dict[str, list[str]]:
    """Lines per section of the example, commented-out headers and settings included."""
    sections: dict[str, list[str]] = {"": []}
    current = ""
    for line in text.splitlines():
        header = re.match(r"^#?\s*\[(\w+)\]\s*$", line)
        if header:
            current = header.group(1)
            sections[current] = []
        else:
            sections[current].append(line)
    return sections


def _uncommented(text: str) -> str:
    """The example with every commented-out setting (`# key = value`, `# [section]`) enabled."""
    return re.sub(r"^# (\[\w+\]|\w+ = .+)$", r"\1", text, flags=re.MULTILINE)


def test_the_example_file_sets_every_value_to_its_default() -> None:
    loaded = load_settings(EXAMPLE, environ={})
    assert loaded.model_dump() == Settings().model_dump()
    assert loaded == Settings()


def test_every_setting_of_the_model_is_in_the_example_with_a_comment() -> None:
    text = EXAMPLE.read_text()
    sections = _sections(text)
    checked = 0
    for name, field in Settings.model_fields.items():
        model = _section_model(field.annotation)
        if model is None:  # a top-level setting, before the first section
            lines, keys = sections[""], [name]
        else:
            assert name in sections, f"section [{name}] is missing from the example"
            lines, keys = sections[name], list(model.model_fields)
        for key in keys:
            at = [i for i, line in enumerate(lines) if re.match(rf"^#?\s*{key}\s*=", line)]
            assert at, f"{name}.{key} is missing from the example"
            comment = lines[at[0] - 1] if at[0] > 0 else ""
            assert comment.startswith("# ") and not re.match(r"^#\s*\w+\s*=", comment), (
                f"{name}.{key} has no comment of its own above it"
            )
            checked += 1
    assert checked >= 30  # every section was walked


def test_the_commented_out_examples_are_valid_and_foreign_idle_keeps_its_defaults(
    tmp_path: Path,
) -> None:
    enabled = tmp_path / "all.toml"
    enabled.write_text(_uncommented(EXAMPLE.read_text()))
    settings = load_settings(enabled, environ={})
    assert settings.foreign_idle == ForeignIdleSection(name_pattern="dev-*")
    assert settings.budget.daily is not None and settings.metrics.tls_cert_file is not None
    assert Settings().foreign_idle is None  # opt-in: off unless the section is present


def _machine(tmp_path: Path) -> dict[str, str]:
    """A key, and a state folder and metrics port this machine has free (check-config checks
    them, as `run` would)."""
    state = {"SPOTSCHED_STATE_DIR": str(tmp_path / "state"), "SPOTSCHED_METRICS_PORT": "0"}
    return state | {"RUNPOD_API_KEY": KEY}


def test_check_config_accepts_the_example(tmp_path: Path) -> None:
    result = spotsched("check-config", "--config", str(EXAMPLE), env=_machine(tmp_path))
    assert result.exit_code == 0, result.stderr
    assert "config ok" in result.stdout and "API key from env RUNPOD_API_KEY" in result.stdout


def test_a_bad_value_is_exit_2_naming_the_key_and_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('state_dir = "/tmp"\n\n[metrics]\nport = "nine"\n')
    result = spotsched("check-config", "--config", str(bad))
    assert result.exit_code == 2
    assert f"{bad}:4: metrics.port:" in result.stderr
    assert result.stdout == ""
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("[metrics]\nport = 9464\nhots = 1\n", ":3: metrics.hots: unknown key"),
        ('state_dir = "/tmp"\nstate_dri = "/tmp"\n', ":2: state_dri: unknown key"),
        ("[runpod]\ntimeout = 5\n\n[metric]\nport = 1\n", ":4: metric: unknown key"),
    ],
)
def test_an_unknown_key_or_section_is_exit_2_with_its_line(
    tmp_path: Path, text: str, where: str
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(text)
    result = spotsched("status", "--config", str(bad))
    assert result.exit_code == 2
    assert f"{bad}{where}" in result.stderr


def test_a_file_that_is_not_toml_or_not_there_is_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[metrics\nport = 1\n")
    result = spotsched("cost", "--config", str(bad))
    assert result.exit_code == 2 and "not valid TOML" in result.stderr and "line 1" in result.stderr
    missing = spotsched("prices", "--config", str(tmp_path / "nope.toml"))
    assert missing.exit_code == 2 and "cannot read config file" in missing.stderr


def test_environment_overrides_win_and_a_bad_one_is_named(tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.toml", metrics={"host": "127.0.0.1", "port": 9464})
    env = {"SPOTSCHED_METRICS_HOST": ALL_INTERFACES, "SPOTSCHED_SCHEDULER_STALE_AFTER": "10m"}
    settings = load_settings(config, environ=env)
    assert settings.metrics.host == ALL_INTERFACES
    assert settings.scheduler.stale_after == 600.0
    result = spotsched("check-config", "--config", str(config), env={"SPOTSCHED_METRICS_PORT": "x"})
    assert result.exit_code == 2
    assert "SPOTSCHED_METRICS_PORT (environment): metrics.port:" in result.stderr
    assert f"{config}:" not in result.stderr  # the file's own port is fine


def test_check_config_validates_a_jobs_file(tmp_path: Path) -> None:
    jobs = tmp_path / "jobs.toml"
    jobs.write_text(
        '[[job]]\nname = "a"\nimage = "img"\ngpu_types = ["NVIDIA A40"]\nmax_spot_price = 0.3\n'
        '\n[[job]]\nname = "b"\nimage = "img"\ngpu_types = ["NVIDIA A40"]\nmax_spot_price = 0.3\n'
    )
    ok = spotsched("check-config", "--jobs", str(jobs), env=_machine(tmp_path))
    assert ok.exit_code == 0, ok.stderr
    assert f"{jobs}: 2 job(s) valid" in ok.stdout

    jobs.write_text('[[job]]\nname = "a"\nimage = "img"\ngpu_types = []\nmax_spot_price = -1\n')
    bad = spotsched("check-config", "--jobs", str(jobs), env=_machine(tmp_path))
    assert bad.exit_code == 2
    assert "gpu_types" in bad.stderr and "max_spot_price" in bad.stderr
    assert "Traceback" not in bad.output


def test_a_key_file_others_can_read_is_warned_about_and_never_printed(tmp_path: Path) -> None:
    key_file = tmp_path / "runpod-api-key"
    key_file.write_text(KEY + "\n")
    config = write_config(
        tmp_path / "c.toml",
        {"state_dir": str(tmp_path / "state")},
        runpod={"api_key_file": str(key_file)},
        metrics={"port": 0},
    )

    key_file.chmod(0o644)
    loose = spotsched("check-config", "--config", str(config))
    assert loose.exit_code == 0
    assert "readable by other users" in loose.output and "chmod 600" in loose.output
    assert "API key from api_key_file" in loose.stdout

    key_file.chmod(0o600)
    tight = spotsched("check-config", "--config", str(config))
    assert tight.exit_code == 0 and "readable by other users" not in tight.output
    assert KEY not in loose.output + tight.output

    key_file.unlink()
    missing = spotsched("check-config", "--config", str(config))
    assert missing.exit_code == 2 and "cannot read api_key_file" in missing.stderr
