"""Options shared by every command that touches the graph store, plus logging setup."""
from __future__ import annotations

import logging
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

__all__ = ["Home", "Uri", "User", "Password", "Database", "Format", "OutputFormat", "EXIT_OK", "EXIT_INVALID",
           "EXIT_USAGE", "EXIT_INTERNAL", "store_from_options", "setup_logging"]

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
