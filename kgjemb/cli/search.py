"""``kgjemb search "QUERY"``: query a bundle from the command line (table or JSON)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from kgjemb.cli.common import Home

FORMATS = ("table", "json")


def result_json(result) -> dict:
    """The CLI's JSON shape: {"query", "parse", "hits": [{track_id, title, artists, score,
    signals, explanation, ...}], "warnings"} (hits carry every :class:`Hit` field)."""
    return result.model_dump(mode="json")


def print_table(result, *, explain: bool = False, console=None) -> None:
    """Rich table of hits: rank, score, title, artists, album; ``explain`` adds why."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    table = Table(title=f"{result.query}", title_justify="left", show_lines=explain)
    for col, kw in (("#", {"justify": "right"}), ("score", {"justify": "right"}), ("title", {}), ("artists", {}), ("album", {})):
        table.add_column(col, **kw)
    if explain:
        table.add_column("why", overflow="fold")
    for rank, h in enumerate(result.hits, 1):
        row = [str(rank), f"{h.score:.3f}", h.title, ", ".join(h.artists), h.album or ""]
        if explain:
            row.append(h.explanation)
        table.add_row(*row)
    console.print(table)
    for w in result.warnings:
        console.print(f"[yellow]warning:[/yellow] {w}")


def search(
    query: Annotated[str, typer.Argument(help='Free text, e.g. "pieces like Jesu, meine Freude but on strings, not slow".')],
    k: Annotated[int, typer.Option("-k", "--k", min=1, max=1000, help="Number of hits.")] = 10,
    bundle: Annotated[Optional[Path], typer.Option("--bundle", help="Bundle directory (default: HOME/bundle).")] = None,
    fmt: Annotated[str, typer.Option("--format", help="Output: table or json.")] = "table",
    explain: Annotated[bool, typer.Option("--explain", help="Show why each hit matched (table).")] = False,
    fusion: Annotated[str, typer.Option("--fusion", help="Score fusion: weighted or rrf.")] = "weighted",
    threads: Annotated[int, typer.Option("--threads", min=0, help="torch/FAISS threads (0: library default); 1 is fastest for one query.")] = 1,
    home: Home = None,
) -> None:
    """Search the index bundle with a free-text music query.

    Entity references ("like X", "similar to X") use entity embeddings, attribute phrases the
    text tower, "not/without Z" subtracts, "not by X" / "from the 1720s" filter.
    Exit 0 on success, 1 on a bundle error, 2 on a bad query or option.

    Example: kgjemb search "fast reel on fiddle" -k 5 --format json
    """
    from kgjemb.errors import BundleError, KgjembError, QueryError
    from kgjemb.paths import bundle_dir
    from kgjemb.query.config import EngineConfig
    from kgjemb.query.engine import Engine

    if fmt not in FORMATS:
        typer.echo(f"Error: unknown --format {fmt!r}; choose from {list(FORMATS)}", err=True)
        raise typer.Exit(2)
    try:
        config = EngineConfig(fusion=fusion, threads=threads or None)
    except ValueError as err:
        typer.echo(f"Error: {err}", err=True)
        raise typer.Exit(2) from err
    try:
        engine = Engine.open(bundle or bundle_dir(home), config=config)
        result = engine.search(query, k=k)
    except QueryError as err:
        typer.echo(f"Error: {err}", err=True)
        raise typer.Exit(2) from err
    except (BundleError, KgjembError) as err:
        typer.echo(f"Error: {err}", err=True)
        raise typer.Exit(1) from err
    if fmt == "json":
        typer.echo(json.dumps(result_json(result), indent=2, ensure_ascii=False))
    else:
        print_table(result, explain=explain)
