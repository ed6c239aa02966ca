"""Settings: defaults, then the TOML config file, then HIPPO_* environment variables."""

from __future__ import annotations

from pathlib import Path

import pytest

from hippo_core.backends.local.settings import LocalSettings
from hippo_core.backends.mesos.settings import MesosSettings
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


@pytest.mark.parametrize("cls", [Config, MesosSettings, LocalSettings])
def test_every_setting_has_an_environment_variable_and_help(cls) -> None:
    prefix = f"HIPPO_{cls.table.upper()}_" if cls.table else "HIPPO_"
    for f in cls.declared():
        assert cls.env_var(f) == prefix + f.name.upper(), f.name
        assert len(f.metadata["help"]) > 10, f.name


@pytest.mark.parametrize(
    ("var", "raw", "name", "value"),
    [
        ("HIPPO_REDIS_URL", "redis://r:6379/2", "redis_url", "redis://r:6379/2"),
        ("HIPPO_MAX_BODY_BYTES", "2048", "max_body_bytes", 2048),
        ("HIPPO_PORT", "9000", "port", 9000),
        ("HIPPO_REFUSE_SECONDS", "2.5", "refuse_seconds", 2.5),
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


def test_describe_masks_secrets_and_says_where_each_value_came_from(tmp_path: Path) -> None:
    path = _file(tmp_path, '[mesos]\nsecret = "s3cr3t-value"\nprincipal = "hippo"\n')
    config = load_config(path, env={"HIPPO_REDIS_URL": "redis://:hunter2-pw@r:6379/0"}, sections=SECTIONS)
    rows = {row.name: row for row in config.describe(SECTIONS)}
    assert (rows["redis_url"].env, rows["redis_url"].value) == (
        "HIPPO_REDIS_URL",
        "'redis://:********@r:6379/0'",
    )
    assert rows["redis_url"].origin == "env HIPPO_REDIS_URL"
    assert (rows["mesos.secret"].env, rows["mesos.secret"].value) == ("HIPPO_MESOS_SECRET", "'********'")
    assert rows["mesos.principal"].origin == f"file {path}"
    assert rows["port"].origin == "default"
    text = repr(config.describe(SECTIONS))
    assert "hunter2-pw" not in text and "s3cr3t-value" not in text
    every = {f.name for f in Config.declared()}
    every |= {f"{cls.table}.{f.name}" for cls in SECTIONS for f in cls.declared()}
    assert set(rows) == every


def test_with_overrides_ignores_none() -> None:
    config = Config().with_overrides(host=None, port=9999)
    assert (config.host, config.port) == ("127.0.0.1", 9999)


def test_mesos_masters_are_a_list() -> None:
    config = Config().with_table("mesos", master=" http://a:5050, http://b:5050 ,")
    assert config.section(MesosSettings).masters == ["http://a:5050", "http://b:5050"]


# -- tables ------------------------------------------------------------------------------

SECTIONS = [MesosSettings, LocalSettings]


def test_a_table_from_the_file_then_its_environment_variables(tmp_path: Path) -> None:
    path = _file(tmp_path, '[mesos]\nmaster = "http://m:5050"\nrole = "batch"\n[local]\ncpus = 3\n')
    config = load_config(path, env={"HIPPO_MESOS_ROLE": "etl", "HIPPO_LOCAL_MEM": "1024"}, sections=SECTIONS)
    mesos = config.section(MesosSettings)
    assert (mesos.master, mesos.role, mesos.user) == ("http://m:5050", "etl", "root")
    assert config.section(LocalSettings) == LocalSettings(cpus=3.0, mem=1024.0)


@pytest.mark.parametrize(
    ("var", "raw", "value"),
    [
        ("HIPPO_LOCAL_CPUS", "", None),  # empty means unset for optional settings
        ("HIPPO_LOCAL_MEM", "1024", 1024.0),
    ],
)
def test_table_environment_variables(var: str, raw: str, value: object) -> None:
    settings = load_config(env={var: raw}, sections=SECTIONS).section(LocalSettings)
    assert getattr(settings, var.removeprefix("HIPPO_LOCAL_").lower()) == value


def test_command_line_overrides_win_over_the_environment() -> None:
    config = load_config(env={"HIPPO_MESOS_MASTER": "http://env:5050"}).with_table(
        "mesos", master="http://cli:5050"
    )
    assert config.section(MesosSettings).master == "http://cli:5050"
    assert config.with_table("mesos", master=None).section(MesosSettings).master == "http://cli:5050"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[mesos]\nmastr = 'x'\n", "unknown setting(s) in [mesos] mastr (did you mean master?)"),
        ("[meso]\nmaster = 'x'\n", "unknown table [meso] (did you mean [mesos]?)"),
        ("mesos_master = 'http://m:5050'\n", "mesos_master is now master in a [mesos] table"),
        ("[local]\ncpus = -1\n", "local.cpus must be at least 0, got -1"),
        ("[local]\ncpus = 'four'\n", "expected a number for local.cpus, got 'four'"),
        ("port = 70000\n[local]\nmem = true\n", "port must be between 0 and 65535"),
    ],
    ids=[
        "unknown-key",
        "unknown-table",
        "moved-key",
        "below-minimum",
        "not-a-number",
        "all-problems-at-once",
    ],
)
def test_bad_tables_name_the_problem_at_load(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        load_config(_file(tmp_path, text), env={}, sections=SECTIONS)
    assert message in str(caught.value)


def test_every_problem_is_reported_together(tmp_path: Path) -> None:
    with pytest.raises(ValueError) as caught:
        load_config(_file(tmp_path, "port = 70000\n[local]\nmem = true\n"), env={}, sections=SECTIONS)
    assert "port must be between" in str(caught.value)
    assert "local.mem cannot be True" in str(caught.value)


def test_the_readme_documents_every_setting() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme[readme.index("## Configuration") :]
    section = section[: section.index("\n## ", 1)]
    for cls in (Config, *SECTIONS):
        for f in cls.declared():
            assert f"`{cls.env_var(f)}`" in section, f"README's Configuration lacks {cls.qualified(f.name)}"
