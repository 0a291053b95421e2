"""The ``kgjemb`` command line. Each command group lives in its own module; heavy imports
(torch, faiss, spaCy) happen inside the commands so that ``--help`` stays instant."""
from __future__ import annotations

import typer

from kgjemb.cli import eval as eval_cli
from kgjemb.cli import graph, index, search, serve, train
from kgjemb.cli.common import setup_logging

app = typer.Typer(
    name="kgjemb",
    help="Knowledge-graph-augmented music similarity search: load a catalog into the graph, "
    "train the joint audio-text-entity embedding, build an index, and query it.",
    no_args_is_help=True,
    add_completion=False,
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
    app()
