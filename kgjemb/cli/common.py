"""Options shared by every command that touches the graph store, plus logging setup."""
from __future__ import annotations

import logging
import os
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from kgjemb.device import Device

__all__ = ["Home", "Uri", "User", "Password", "Database", "DeviceOpt", "Format", "OutputFormat", "EXIT_OK", "EXIT_INVALID",
           "EXIT_USAGE", "EXIT_INTERNAL", "EngineConfigOpt", "engine_config_from", "store_from_options",
           "setup_logging", "use_device"]

#: exit codes of every command: 0 ok/valid, 1 invalid input (reported), 2 usage, 3 internal error
EXIT_OK, EXIT_INVALID, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3


class OutputFormat(str, Enum):
    """The one ``--format`` convention of every command that prints a result."""

    text = "text"
    json = "json"


Home = Annotated[
    Optional[Path],
    typer.Option("--home", envvar="KGJEMB_HOME", help="State directory of the embedded store, model and bundle [default: ./.kgjemb]."),
]
Uri = Annotated[
    Optional[str],
    typer.Option("--uri", envvar="NEO4J_URI", help="Neo4j Bolt URI (bolt://host:7687). Omit to use the embedded store."),
]
User = Annotated[Optional[str], typer.Option("--user", envvar="NEO4J_USER", help="Neo4j user [default: neo4j].")]
Password = Annotated[
    Optional[str], typer.Option("--password", envvar="NEO4J_PASSWORD", help="Neo4j password (none: no auth).")
]
Database = Annotated[Optional[str], typer.Option("--database", envvar="NEO4J_DATABASE", help="Neo4j database [default: neo4j].")]
Format = Annotated[OutputFormat, typer.Option("--format", case_sensitive=False, help="Output format.")]
EngineConfigOpt = Annotated[
    Optional[str],
    typer.Option("--engine-config", metavar="FILE|JSON", show_default=False,
                 help='Engine settings (signal weights, graph walk, fusion, ...) from a JSON file or an inline JSON '
                      'object, e.g. \'{"weights": {"graph": 1.5}}\'; unnamed settings keep their defaults.'),
]
DeviceOpt = Annotated[
    Device,
    typer.Option("--device", envvar="KGJEMB_DEVICE", case_sensitive=False,
                 help="Where models and FAISS compute: auto (CUDA when a GPU is visible), cpu or cuda."),
]


def use_device(choice: Device) -> str:
    """Resolve ``--device`` once and make it the process default (worker processes inherit
    it); returns ``cpu`` or ``cuda``. CUDA asked for where there is none: usage error, exit 2."""
    from kgjemb.device import set_default_device
    from kgjemb.errors import DeviceError

    try:
        return set_default_device(choice)
    except DeviceError as err:
        typer.echo(f"Error: {err}", err=True)
        raise typer.Exit(EXIT_USAGE) from err


def engine_config_from(source: str | None, **overrides):
    """The engine settings of ``--engine-config`` (None: the defaults) with ``overrides``
    (options that are not None) on top. A bad file or setting: usage error, exit 2."""
    import dataclasses

    from kgjemb.query.config import EngineConfig, load_engine_config

    try:
        config = load_engine_config(source) if source is not None else EngineConfig()
        return dataclasses.replace(config, **{k: v for k, v in overrides.items() if v is not None})
    except ValueError as err:  # a ConfigError from the file, or a value an option refuses
        typer.echo(f"Error: {err}", err=True)
        raise typer.Exit(EXIT_USAGE) from err


def store_from_options(uri, home, user, password, database):
    """Open the store named by the common CLI options."""
    from kgjemb.graph.open import open_store

    return open_store(uri, home=home, user=user, password=password, database=database)


def setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    if not verbose:  # FAISS logs each CPU-specific build it tries and does not find, at INFO
        logging.getLogger("faiss.loader").setLevel(logging.WARNING)


_SKIP_TEARDOWN = False


def skip_teardown() -> None:
    """Mark the running command as holding nothing that must be closed at exit (a read-only
    query): :func:`exit_now` may then end the process without the interpreter's teardown,
    which spends ~0.4 s of a one-shot ``kgjemb search`` freeing the parser's vocabulary,
    the graph frames and the text encoder one object at a time."""
    global _SKIP_TEARDOWN
    _SKIP_TEARDOWN = True


def exit_now(code) -> None:
    """After :func:`skip_teardown`: flush the output streams and the log handlers, then end
    the process with ``code`` (int or None) at once. Otherwise return (the caller exits as
    usual). Only the console entry point calls this, never a command (in-process callers
    such as test runners keep their interpreter)."""
    if not _SKIP_TEARDOWN or not (code is None or isinstance(code, int)):
        return
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing more to write
            pass
    logging.shutdown()
    os._exit(code or 0)
