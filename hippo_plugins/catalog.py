"""The plugins of this repository, as ``plugins.toml`` lists them, and the files made from the list.

``python hippo_plugins/catalog.py`` rewrites requirements.txt, requirements-dev.txt, the
table of plugins in README.md and docs/queuetypes/<namespace>.md (each queue type's
manual, :func:`hippo_core.manuals.manual`); ``--check`` changes nothing and fails naming
every file that is not what the list makes. The manuals are read from the installed
queue types: run it where ``pip install -r requirements-dev.txt`` ran.

Tests load this module from its path (it is a script of the repository, not a package).
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
LIST = HERE / "plugins.toml"
QUEUETYPES_GROUP = "hippo.queuetypes"
README_START = "<!-- plugins: made by hippo_plugins/catalog.py from hippo_plugins/plugins.toml -->"
README_END = "<!-- /plugins -->"
MANUALS = Path("docs") / "queuetypes"


@dataclass(frozen=True)
class Plugin:
    """One distribution under ``hippo_plugins/``; its names follow from its namespace."""

    folder: str
    namespace: str
    queuetype: bool

    @property
    def distribution(self) -> str:
        return f"hippo-{self.namespace}"

    @property
    def package(self) -> str:
        return f"hippo_{self.namespace}"

    @property
    def path(self) -> Path:
        """Where it is, relative to the repository's root."""
        return Path("hippo_plugins") / self.folder

    @property
    def manual(self) -> Path | None:
        return MANUALS / f"{self.namespace}.md" if self.queuetype else None


def plugins(path: Path = LIST) -> list[Plugin]:
    """Every plugin the list names: support distributions first, then queue types."""
    with path.open("rb") as listed:
        tables = tomllib.load(listed)
    unknown = set(tables) - {"support", "queuetypes"}
    if unknown:
        raise ValueError(f"{path}: unknown tables {sorted(unknown)}; expected [support] and [queuetypes]")
    return [
        Plugin(folder, namespace, queuetype=table == "queuetypes")
        for table in ("support", "queuetypes")
        for folder, namespace in tables.get(table, {}).items()
    ]


def requirements(listed: list[Plugin]) -> str:
    lines = [
        f"# Hippo with all {sum(p.queuetype for p in listed)} queue types: `pip install -r requirements.txt`",
        "# Made by hippo_plugins/catalog.py from hippo_plugins/plugins.toml; edit that list instead.",
        ".",
        *(f"./{plugin.path.as_posix()}" for plugin in listed),
    ]
    return "\n".join(lines) + "\n"


def requirements_dev(listed: list[Plugin]) -> str:
    lines = [
        "# Hippo, every queue type and every test tool, editable: `pip install -r requirements-dev.txt`",
        "# Made by hippo_plugins/catalog.py from hippo_plugins/plugins.toml; edit that list instead.",
        "-e .[test]",
        "-e ./mesos-peer[test]",
        *(f"-e ./{plugin.path.as_posix()}[test]" for plugin in listed),
    ]
    return "\n".join(lines) + "\n"


def readme_table(listed: list[Plugin]) -> str:
    rows = [
        "| folder | distribution | import package | entry point | manual |",
        "|---|---|---|---|---|",
    ]
    for plugin in listed:
        if plugin.queuetype:
            entry = f"`{plugin.namespace}` in `{QUEUETYPES_GROUP}`"
            manual = f"[{plugin.manual.as_posix()}]({plugin.manual.as_posix()})" if plugin.manual else ""
        else:
            entry = f"none (support; pytest fixtures `{plugin.package}` in `pytest11`)"
            manual = f"`{plugin.package}` module docstring"
        names = f"`{plugin.path.as_posix()}` | `{plugin.distribution}` | `{plugin.package}`"
        rows.append(f"| {names} | {entry} | {manual} |")
    return "\n".join(rows)


def readme(listed: list[Plugin], current: str) -> str:
    """``current`` README text with its table of plugins made anew."""
    before, start, rest = current.partition(README_START)
    _, end, after = rest.partition(README_END)
    if not start or not end:
        raise ValueError(
            f"README.md lacks the lines {README_START!r} ... {README_END!r} around the plugin table"
        )
    return f"{before}{README_START}\n{readme_table(listed)}\n{README_END}{after}"


def manual_text(plugin: Plugin) -> str:
    """The manual of an installed queue type, from its docstring and schema."""
    from hippo_core.manuals import manual  # needs hippo-core installed; the rest of this file does not

    found = entry_points(group=QUEUETYPES_GROUP, name=plugin.namespace)
    if not found:
        raise LookupError(
            f"queue type {plugin.namespace!r} is not installed; pip install -r requirements-dev.txt first"
        )
    return manual(next(iter(found)).load())


def made(root: Path = ROOT) -> dict[Path, Callable[[], str]]:
    """Each file the list makes (relative to ``root``), with how to make its text."""
    listed = plugins(root / "hippo_plugins" / "plugins.toml")
    files: dict[Path, Callable[[], str]] = {
        Path("requirements.txt"): lambda: requirements(listed),
        Path("requirements-dev.txt"): lambda: requirements_dev(listed),
        Path("README.md"): lambda: readme(listed, (root / "README.md").read_text(encoding="utf-8")),
    }
    for plugin in listed:
        if plugin.manual is not None:
            files[plugin.manual] = lambda plugin=plugin: manual_text(plugin)  # type: ignore[misc]
    return files


def stale(root: Path = ROOT) -> list[Path]:
    """The made files whose text on disk is not what the list makes."""
    out = []
    for path, make in made(root).items():
        on_disk = root / path
        if not on_disk.exists() or on_disk.read_text(encoding="utf-8") != make():
            out.append(path)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python hippo_plugins/catalog.py", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--check", action="store_true", help="change nothing; fail if a made file is stale")
    args = parser.parse_args(argv)
    if args.check:
        old = stale()
        for path in old:
            print(f"{path} is stale: run python hippo_plugins/catalog.py", file=sys.stderr)
        return 1 if old else 0
    for path, make in made().items():
        target = ROOT / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(make(), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
