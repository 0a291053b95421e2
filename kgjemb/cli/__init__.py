"""The ``kgjemb`` command line. Each command group lives in its own module; heavy imports
(torch, faiss, spaCy) happen inside the commands so that ``--help`` stays instant.

Exit codes of every command (named in :mod:`kgjemb.cli.common`): 0 ok / valid, 1 invalid
input (reported), 2 usage error, 3 internal error. An exception no command expected is
logged in one line (the traceback with ``--verbose``) and exits 3, never a raw traceback.
"""
from __future__ import annotations

import logging

import typer
from typer.core import TyperGroup
from typer.exceptions import TyperException

from kgjemb.cli import eval as eval_cli
from kgjemb.cli import graph, index, search, serve, train
from kgjemb.cli.common import EXIT_INTERNAL, exit_now, setup_logging

__all__ = ["app", "main"]

logger = logging.getLogger("kgjemb.cli")


class GuardedGroup(TyperGroup):
    """The root command group: turns an unexpected exception of any command into a logged
    error and exit code 3. Click's own exits (usage errors → 2, ``typer.Exit(n)``,
    Ctrl-C) pass through unchanged."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, TyperException, EOFError):  # exits and usage errors
            raise
        except Exception as err:  # noqa: BLE001 - the last line of defence
            logger.error("internal error: %s: %s (a bug; run with --verbose for the traceback)",
                         type(err).__name__, err)
            logger.debug("traceback of the internal error", exc_info=True)
            raise typer.Exit(EXIT_INTERNAL) from err


app = typer.Typer(
    name="kgjemb",
    cls=GuardedGroup,
    help="Knowledge-graph-augmented music similarity search: load a catalog into the graph, "
    "train the joint audio-text-entity embedding, build an index, and query it. "
    "Exit codes: 0 ok, 1 invalid input, 2 usage error, 3 internal error.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root(verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging.")) -> None:
    setup_logging(verbose)


app.add_typer(graph.app, name="graph", help="Validate, load and inspect the knowledge graph.")
app.add_typer(index.app, name="index", help="Build and update the FAISS index bundle.")
app.command("train", help=train.train.__doc__)(train.train)
app.command("train-compare", help=train.compare.__doc__)(train.compare)
app.command("search", help=search.search.__doc__)(search.search)
app.command("serve", help=serve.serve.__doc__)(serve.serve)
app.command("eval", help=eval_cli.eval_cmd.__doc__)(eval_cli.eval_cmd)


def main() -> None:
    try:
        app()
    except SystemExit as done:
        exit_now(done.code)  # returns unless the command asked to skip the teardown
        raise
