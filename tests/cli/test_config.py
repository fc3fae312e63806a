"""The configuration people write: the example file cannot drift from `Settings`, bad files and
bad environment values are exit 2 naming the key and where it came from, `check-config`
validates a jobs file, and a key file others can read is warned about."""

from __future__ import annotations

import datetime
import json
import math
import re
import types
import typing
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from scheduler.daemon.config import ConfigError, ForeignIdleSection, Settings, load_settings
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


def test_check_config_accepts_the_example() -> None:
    result = spotsched("check-config", "--config", str(EXAMPLE))
    assert result.exit_code == 0, result.stderr
    assert "config ok" in result.stdout and "API key from none" in result.stdout


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
    ok = spotsched("check-config", "--jobs", str(jobs))
    assert ok.exit_code == 0, ok.stderr
    assert f"{jobs}: 2 job(s) valid" in ok.stdout

    jobs.write_text('[[job]]\nname = "a"\nimage = "img"\ngpu_types = []\nmax_spot_price = -1\n')
    bad = spotsched("check-config", "--jobs", str(jobs))
    assert bad.exit_code == 2
    assert "gpu_types" in bad.stderr and "max_spot_price" in bad.stderr
    assert "Traceback" not in bad.output


def test_a_key_file_others_can_read_is_warned_about_and_never_printed(tmp_path: Path) -> None:
    key_file = tmp_path / "runpod-api-key"
    key_file.write_text(KEY + "\n")
    config = write_config(tmp_path / "c.toml", runpod={"api_key_file": str(key_file)})

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


# ------------------------------------------------------------------ hostile values

_HOSTILE_LITERALS = {
    "nan": "nan",
    "inf": "inf",
    "-inf": "-inf",
    "a boolean": "true",
    "an array": "[1, 2]",
    "a table": "{ a = 1 }",
    "a date": "1979-05-27",
    "a time": "07:32:00",
    "a date-time": "1979-05-27T07:32:00Z",
    "huge": "1e308",
}


def _numeric_settings() -> list[tuple[str, str]]:
    """Every (section, key) whose value is a number or a duration, derived from the model."""
    found = []
    for name, field in Settings.model_fields.items():
        model = _section_model(field.annotation)
        if model is None:
            continue
        for key, sub in model.model_fields.items():
            args = typing.get_args(sub.annotation) or (sub.annotation,)
            flat = [typing.get_args(a)[0] if typing.get_args(a) else a for a in args]
            if any(a in (int, float) for a in flat):
                found.append((name, key))
    return found


def test_the_numeric_settings_are_all_found() -> None:
    keys = {f"{s}.{k}" for s, k in _numeric_settings()}
    assert {"runpod.timeout", "scheduler.tick_budget", "budget.daily", "metrics.port"} <= keys
    assert len(keys) >= 18


@pytest.mark.parametrize(("section", "key"), _numeric_settings())
def test_nan_inf_booleans_arrays_tables_and_dates_are_refused_naming_the_key_and_line(
    tmp_path: Path, section: str, key: str
) -> None:
    for what, literal in _HOSTILE_LITERALS.items():
        extra = 'name_pattern = "dev-*"\n' if section == "foreign_idle" else ""
        path = tmp_path / "bad.toml"
        path.write_text(f'state_dir = "/tmp"\n\n[{section}]\n{extra}{key} = {literal}\n')
        line = 5 if extra else 4
        with pytest.raises(ConfigError) as caught:
            load_settings(path, environ={})
        assert f"{path}:{line}: {section}.{key}:" in caught.value.message, (what, caught.value)


def test_a_hostile_number_through_check_config_is_exit_2_without_a_traceback(
    tmp_path: Path,
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[scheduler]\ntick_interval = [30, 60]\n")
    result = spotsched("check-config", "--config", str(bad))
    assert result.exit_code == 2
    assert f"{bad}:2: scheduler.tick_interval: expected a duration" in result.stderr
    assert "got an array" in result.stderr
    assert "Traceback" not in result.output


def test_nan_from_the_environment_is_refused_naming_the_variable() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(None, {"SPOTSCHED_BUDGET_DAILY": "nan", "SPOTSCHED_RUNPOD_TIMEOUT": "inf"})
    assert "SPOTSCHED_BUDGET_DAILY (environment): budget.daily:" in caught.value.message
    assert "SPOTSCHED_RUNPOD_TIMEOUT (environment): runpod.timeout:" in caught.value.message


@pytest.mark.parametrize(
    ("url", "rule"),
    [
        ("http://api.runpod.io/graphql", "must be https"),
        ("http://10.0.0.5:8765/graphql", "must be https"),
        ("https://user:s3cr3t-PASS@api.runpod.io/graphql", "user name or password"),
        ("https://s3cr3t-PASS@api.runpod.io/graphql", "user name or password"),
        ("https://api.runpod.io/graphql?api_key=s3cr3t-PASS", "must not carry a query"),
        ("https://api.runpod.io/graphql?", "must not carry a query"),
        ("https://api.runpod.io/graphql#s3cr3t-PASS", "must not carry a fragment"),
        ("ftp://api.runpod.io/graphql", "https:// URL with a host"),
        ("api.runpod.io/graphql", "https:// URL with a host"),
        ("https:///graphql", "https:// URL with a host"),
        ("https://api.runpod.io:99999/graphql", "not a valid URL"),
        ("https://api.runpod.io/graph\nql", "control characters"),
    ],
)
def test_an_api_url_the_key_must_not_go_to_is_refused_without_repeating_it(
    tmp_path: Path, url: str, rule: str
) -> None:
    config = tmp_path / "c.toml"
    config.write_text(f"[runpod]\napi_url = {json.dumps(url)}\n")
    result = spotsched("check-config", "--config", str(config))
    assert result.exit_code == 2
    assert f"{config}:2: runpod.api_url: " in result.stderr and rule in result.stderr
    assert "s3cr3t-PASS" not in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    "url",
    [
        "https://api.runpod.io/graphql",
        "https://rest.runpod.io:8443/v1",
        "http://127.0.0.1:8765/graphql",
        "http://127.8.9.10/graphql",
        "http://[::1]:8765/graphql",
        "http://localhost:8765/graphql",
    ],
)
def test_https_and_loopback_http_urls_are_accepted(url: str) -> None:
    assert load_settings(None, {"SPOTSCHED_RUNPOD_API_URL": url}).runpod.api_url == url


def test_the_tick_budget_defaults_to_two_minutes_and_takes_a_duration() -> None:
    assert Settings().scheduler.tick_budget == 120.0
    env = {"SPOTSCHED_SCHEDULER_TICK_BUDGET": "90s"}
    assert load_settings(None, env).scheduler.tick_budget == 90
    with pytest.raises(ConfigError, match=r"scheduler\.tick_budget"):
        load_settings(None, {"SPOTSCHED_SCHEDULER_TICK_BUDGET": "0"})


# ------------------------------------------------------------------ any value for any key


def _every_setting() -> list[tuple[str | None, str]]:
    keys: list[tuple[str | None, str]] = []
    for name, field in Settings.model_fields.items():
        model = _section_model(field.annotation)
        if model is None:
            keys.append((None, name))
        else:
            keys.extend((name, key) for key in model.model_fields)
    return keys


def _toml(value: object) -> str:
    """A TOML literal for a value Hypothesis made (dates and times are TOML's own)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return {"nan": "nan", "inf": "inf", "-inf": "-inf"}.get(str(value), repr(value))
    if isinstance(value, int | datetime.date | datetime.time):
        return value.isoformat() if not isinstance(value, int) else str(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    assert isinstance(value, dict)
    return "{" + ", ".join(f"{json.dumps(k)} = {_toml(v)}" for k, v in value.items()) + "}"


_SCALARS = (
    st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats()
    | st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)
    | st.dates()
    | st.times()
    | st.datetimes(timezones=st.just(datetime.UTC))
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)


@settings(max_examples=500, deadline=None)
@given(target=st.sampled_from(_every_setting()), value=_VALUES)
def test_any_toml_value_for_any_setting_is_accepted_or_refused_naming_the_setting(
    tmp_path_factory: pytest.TempPathFactory, target: tuple[str | None, str], value: object
) -> None:
    section, key = target
    path = tmp_path_factory.mktemp("cfg") / "c.toml"
    line = f"{key} = {_toml(value)}"
    if section is None:
        path.write_text(line + "\n")
    else:
        extra = (
            'name_pattern = "dev-*"\n'
            if section == "foreign_idle" and key != "name_pattern"
            else ""
        )
        path.write_text(f"[{section}]\n{extra}{line}\n")
    name = key if section is None else f"{section}.{key}"
    refusal = _refusal(lambda: load_settings(path, environ={}))
    if refusal is not None:
        assert f": {name}:" in refusal or "not valid TOML" in refusal, refusal


@settings(max_examples=300, deadline=None)
@given(target=st.sampled_from(_every_setting()), text=st.text(max_size=30))
def test_any_environment_text_for_any_setting_is_accepted_or_refused_naming_the_variable(
    target: tuple[str | None, str], text: str
) -> None:
    section, key = target
    variable = (
        f"SPOTSCHED_{key.upper()}" if section is None else f"SPOTSCHED_{section}_{key}".upper()
    )
    environ = {variable: text}
    if section == "foreign_idle" and key != "name_pattern":
        environ["SPOTSCHED_FOREIGN_IDLE_NAME_PATTERN"] = "dev-*"
    refusal = _refusal(lambda: load_settings(None, environ))
    if refusal is not None:
        assert f"{variable} (environment)" in refusal, refusal


def _refusal(load: typing.Callable[[], Settings]) -> str | None:
    """The `ConfigError` message of `load()`, or None after checking what it loaded."""
    try:
        loaded = load()
    except ConfigError as exc:
        return exc.message
    assert_sane_settings(loaded)
    return None


def assert_sane_settings(loaded: Settings) -> None:
    """Every number finite, every duration and amount non-negative, no text with a control
    character."""
    for name, section in loaded:
        values = section.model_dump() if isinstance(section, BaseModel) else {name: section}
        for key, v in values.items():
            if isinstance(v, float):
                assert math.isfinite(v) and v >= 0, (key, v)
            if isinstance(v, str):
                assert not any(unicodedata.category(c) == "Cc" for c in v), (key, v)
