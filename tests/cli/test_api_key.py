"""A RunPod API key that cannot be one is refused where it is read, naming where it came from
(the environment variable, the systemd credential, the key file) and never quoting the key.

Today's failure this guards against: a key pasted with an interior newline went into the
Authorization header, the HTTP library refused the header and quoted it, escaped, in its error,
and that error was logged on every tick.
"""

from __future__ import annotations

import string
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler.daemon.config import ConfigError, Settings, load_settings
from scheduler.daemon.secrets import CREDENTIAL_NAME, load_api_key
from scheduler.runpod.secret import ApiKey
from tests.cli.conftest import spotsched, write_config

HEAD, TAIL = "rpa_HEADPART1234", "TAILPART5678xyz"

BAD_MIDDLES = {
    "newline": "\n",
    "carriage return": "\r",
    "NUL": "\x00",
    "tab": "\t",
    "escape": "\x1b[31m",
    "DEL": "\x7f",
    "C1 control": "\x85",
    "non-ASCII letter": "é",
    "zero-width space": "\u200b",
    "inner space": " ",
}


def _key_from(source: str, key: str, tmp_path: Path) -> tuple[Settings, dict[str, str], str]:
    """Settings and environment that hand `key` to the daemon through `source`, and the words
    the error must name."""
    if source == "env":
        return Settings(), {"RUNPOD_API_KEY": key}, "RUNPOD_API_KEY"
    path = tmp_path / ("creds" if source == "credential" else "keyfile")
    path.mkdir(exist_ok=True)
    if source == "credential":
        (path / CREDENTIAL_NAME).write_text(key + "\n", encoding="utf-8")
        return Settings(), {"CREDENTIALS_DIRECTORY": str(path)}, "systemd credential"
    key_file = path / "runpod-api-key"
    key_file.write_text(key + "\n", encoding="utf-8")
    key_file.chmod(0o600)
    settings = Settings.model_validate({"runpod": {"api_key_file": str(key_file)}})
    return settings, {}, str(key_file)


@pytest.mark.parametrize("source", ["env", "credential", "key file"])
@pytest.mark.parametrize("middle", list(BAD_MIDDLES.values()), ids=list(BAD_MIDDLES))
def test_a_key_with_a_bad_character_is_refused_naming_the_source_not_the_key(
    source: str, middle: str, tmp_path: Path
) -> None:
    settings, environ, named = _key_from(source, HEAD + middle + TAIL, tmp_path)
    with pytest.raises(ConfigError) as caught:
        load_api_key(settings, environ)
    message = caught.value.message
    assert named in message
    assert HEAD not in message and TAIL not in message
    assert "API key" in message


@pytest.mark.parametrize("source", ["env", "credential", "key file"])
def test_a_blank_key_is_refused(source: str, tmp_path: Path) -> None:
    settings, environ, named = _key_from(source, " \t ", tmp_path)
    with pytest.raises(ConfigError) as caught:
        load_api_key(settings, environ)
    assert named in caught.value.message


@pytest.mark.parametrize("source", ["env", "credential", "key file"])
def test_a_good_key_is_read_without_its_surrounding_whitespace(source: str, tmp_path: Path) -> None:
    settings, environ, _ = _key_from(source, f"  {HEAD}{TAIL}\n", tmp_path)
    assert load_api_key(settings, environ).value == HEAD + TAIL


def test_an_empty_variable_counts_as_unset(tmp_path: Path) -> None:
    settings, environ, _ = _key_from("credential", HEAD + TAIL, tmp_path)
    key = load_api_key(settings, {**environ, "RUNPOD_API_KEY": ""})
    assert key.value == HEAD + TAIL and "credential" in key.source


def test_a_key_file_that_is_not_text_is_refused_without_quoting_it(tmp_path: Path) -> None:
    key_file = tmp_path / "runpod-api-key"
    key_file.write_bytes(HEAD.encode() + b"\xff\xfe" + TAIL.encode())
    key_file.chmod(0o600)
    settings = Settings.model_validate({"runpod": {"api_key_file": str(key_file)}})
    with pytest.raises(ConfigError) as caught:
        load_api_key(settings, {})
    assert str(key_file) in caught.value.message
    assert HEAD not in caught.value.message and TAIL not in caught.value.message


_PRINTABLE = st.text(string.ascii_letters + string.digits + "-_", min_size=8, max_size=40)
_BAD = st.characters(
    blacklist_categories=("Cs",),  # surrogates cannot be written as UTF-8
).filter(lambda c: not (c.isascii() and c.isprintable() and not c.isspace()))


@settings(max_examples=200, deadline=None)
@given(head=_PRINTABLE, bad=_BAD, tail=_PRINTABLE)
def test_any_key_holding_a_non_printable_or_non_ascii_character_is_refused(
    head: str, bad: str, tail: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_api_key(Settings(), {"RUNPOD_API_KEY": head + bad + tail})
    message = caught.value.message
    assert "RUNPOD_API_KEY" in message
    assert head not in message and tail not in message
    # the client's own key holder refuses it too
    with pytest.raises(ValueError, match="API key") as direct:
        ApiKey(head + bad + tail)
    assert head not in str(direct.value) and tail not in str(direct.value)


def test_check_config_refuses_a_key_with_a_newline_without_printing_it(tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.toml", runpod={"timeout": 5})
    assert load_settings(config, {}).runpod.timeout == 5
    result = spotsched(
        "check-config", "--config", str(config), env={"RUNPOD_API_KEY": f"{HEAD}\n{TAIL}"}
    )
    assert result.exit_code == 2
    assert "RUNPOD_API_KEY" in result.stderr and "line break" in result.stderr
    assert HEAD not in result.output and TAIL not in result.output
    assert "Traceback" not in result.output


def test_redaction_also_covers_the_escaped_forms_libraries_quote() -> None:
    key = ApiKey(HEAD + TAIL)
    text = f"Illegal header value b'Bearer {HEAD}{TAIL}' ({HEAD + TAIL!r})"
    assert HEAD not in key.redact(text)


@pytest.mark.parametrize("source", ["credential", "key file"])
def test_a_key_file_that_is_huge_or_not_a_file_is_refused_without_reading_it_all(
    source: str, tmp_path: Path
) -> None:
    settings, environ, named = _key_from(source, HEAD + TAIL, tmp_path)
    target = (
        Path(environ["CREDENTIALS_DIRECTORY"]) / CREDENTIAL_NAME
        if source == "credential"
        else Path(str(settings.runpod.api_key_file))
    )
    target.write_bytes(b"A" * 10_000_000)
    with pytest.raises(ConfigError, match="larger than") as caught:
        load_api_key(settings, environ)
    assert named in caught.value.message
    target.unlink()
    target.symlink_to("/dev/zero")  # reading it would never end
    with pytest.raises(ConfigError, match="not a regular file"):
        load_api_key(settings, environ)
