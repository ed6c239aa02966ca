"""Settings: defaults, then the TOML config file, then HIPPO_* environment variables."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from hippo_core.config import Config, load_config


def _file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "hippo.toml"
    path.write_text(text)
    return path


def test_defaults_without_file_or_environment() -> None:
    config = load_config(env={})
    assert config == Config()
    assert config.redis_url is None
    assert config.max_body_bytes == 1024 * 1024
    assert (config.host, config.port) == ("127.0.0.1", 8080)
    assert config.key_prefix == "hippo"


def test_every_setting_has_an_environment_variable_and_help() -> None:
    for f in dataclasses.fields(Config):
        assert f.metadata["env"] == f"HIPPO_{f.name.upper()}", f.name
        assert len(f.metadata["help"]) > 10, f.name


@pytest.mark.parametrize(
    ("var", "raw", "name", "value"),
    [
        ("HIPPO_REDIS_URL", "redis://r:6379/2", "redis_url", "redis://r:6379/2"),
        ("HIPPO_MAX_BODY_BYTES", "2048", "max_body_bytes", 2048),
        ("HIPPO_PORT", "9000", "port", 9000),
        ("HIPPO_REFUSE_SECONDS", "2.5", "refuse_seconds", 2.5),
        ("HIPPO_LOCAL_CPUS", "", "local_cpus", None),  # empty means unset for optional settings
        ("HIPPO_LOCAL_MEM", "1024", "local_mem", 1024.0),
        ("HIPPO_LOG_LEVEL", "debug", "log_level", "debug"),
    ],
)
def test_environment_variables(var: str, raw: str, name: str, value: object) -> None:
    assert getattr(load_config(env={var: raw}), name) == value


def test_file_then_environment(tmp_path: Path) -> None:
    path = _file(tmp_path, 'redis_url = "redis://file:6379/0"\nport = 9100\nmax_body_bytes = 4096\n')
    config = load_config(path, env={"HIPPO_PORT": "9200"})
    assert config.redis_url == "redis://file:6379/0"
    assert config.max_body_bytes == 4096
    assert config.port == 9200  # the environment wins over the file


def test_file_named_by_hippo_config(tmp_path: Path) -> None:
    path = _file(tmp_path, "api_threads = 3\n")
    assert load_config(env={"HIPPO_CONFIG": str(path)}).api_threads == 3


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("redis_ulr = 'x'\n", "unknown setting(s) redis_ulr (did you mean redis_url?)"),
        ("port = \n", "is not valid TOML"),
        ("port = 'eighty'\n", "expected a whole number for port, got 'eighty'"),
        ("port = 80.5\n", "expected a whole number for port"),
        ("max_body_bytes = true\n", "max_body_bytes cannot be True"),
        ("redis_url = 6379\n", "expected a string for redis_url"),
        ("host = ['a', 'b']\n", "host cannot be"),
        ("max_body_bytes = 0\n", "max_body_bytes must be at least 1, got 0"),
        ("port = 70000\n", "port must be between 0 and 65535"),
        ("log_level = 'LOUD'\n", "log_level must be one of DEBUG, INFO, WARNING, ERROR"),
    ],
    ids=[
        "unknown-key",
        "bad-toml",
        "not-a-number",
        "fraction",
        "boolean",
        "number-for-string",
        "array",
        "zero-body-limit",
        "port-range",
        "log-level",
    ],
)
def test_bad_file_names_the_problem(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        load_config(_file(tmp_path, text), env={})
    assert message in str(caught.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="does not exist"):
        load_config(tmp_path / "nope.toml", env={})


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"HIPPO_MAX_BODY_BYTES": "1MB"}, "variable HIPPO_MAX_BODY_BYTES: expected a whole number"),
        ({"HIPPO_PORT": "-1"}, "port must be between 0 and 65535"),
        ({"HIPPO_API_THREADS": "0"}, "api_threads must be at least 1"),
    ],
)
def test_bad_environment_names_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError) as caught:
        load_config(env=env)
    assert message in str(caught.value)


def test_describe_masks_secrets() -> None:
    config = Config(redis_url="redis://:hunter2-pw@r:6379/0", mesos_secret="s3cr3t-value")
    rows = {name: (env, value) for name, env, value, _ in config.describe()}
    assert rows["redis_url"] == ("HIPPO_REDIS_URL", "'redis://:********@r:6379/0'")
    assert rows["mesos_secret"] == ("HIPPO_MESOS_SECRET", "'********'")
    text = repr(config.describe())
    assert "hunter2-pw" not in text and "s3cr3t-value" not in text
    assert set(rows) == {f.name for f in dataclasses.fields(Config)}


def test_with_overrides_ignores_none() -> None:
    config = Config().with_overrides(host=None, port=9999)
    assert (config.host, config.port) == ("127.0.0.1", 9999)


def test_mesos_masters_are_a_list() -> None:
    assert Config(mesos_master=" http://a:5050, http://b:5050 ,").mesos_masters == [
        "http://a:5050",
        "http://b:5050",
    ]
