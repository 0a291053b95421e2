"""``kgjemb search "QUERY"`` or ``kgjemb search --queries FILE|-``: query a bundle from the
command line, one query or many for one start-up (``--format text|json``).

A one-shot search loads only what a query needs: the bundle, the parser and the model's
text path on ONNX Runtime (:meth:`~kgjemb.index.bundle.Bundle.load_text_model`), never the
audio CNN, the graph network or torch-geometric.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Iterator, Optional

import typer

from kgjemb.cli.common import (EXIT_INVALID, EXIT_USAGE, DeviceOpt, EngineConfigOpt, Format, Home, OutputFormat,
                               engine_config_from, skip_teardown, use_device)
from kgjemb.device import Device


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


def read_queries(source: str) -> Iterator[tuple[int, str | None, str | None, str | None]]:
    """Queries from a file (``-``: standard input), one a line: plain text, or a JSON object
    with a string ``"query"`` (and optionally ``"id"``; the suites' format). Yields
    (line number, id, query, problem); blank lines are skipped; a line that cannot be
    read gives a problem naming its field instead of a query."""
    stream = sys.stdin if source == "-" else open(source, encoding="utf-8")  # noqa: SIM115
    try:
        for number, line in enumerate(stream, 1):
            text = line.strip()
            if not text:
                continue
            if not text.startswith("{"):
                yield number, None, text, None
                continue
            try:
                record = json.loads(text)
            except ValueError as err:
                yield number, None, None, f"not valid JSON: {err}"
                continue
            query, rid = record.get("query") if isinstance(record, dict) else None, None
            if not isinstance(query, str):
                yield number, None, None, 'field "query": missing or not a string'
                continue
            rid = record.get("id")
            yield number, None if rid is None else str(rid), query, None
    finally:
        if stream is not sys.stdin:
            stream.close()


def search(
    query: Annotated[Optional[str], typer.Argument(help='Free text, e.g. "pieces like Jesu, meine Freude but on strings, not slow".', show_default=False)] = None,
    queries: Annotated[Optional[str], typer.Option("--queries", metavar="FILE|-", help="Answer every query in FILE (- : standard input), one a line: text, or JSON with a \"query\" field; JSON output is then one line per query.", show_default=False)] = None,
    k: Annotated[int, typer.Option("-k", "--k", min=1, max=1000, help="Number of hits.")] = 10,
    bundle: Annotated[Optional[Path], typer.Option("--bundle", help="Bundle directory (default: HOME/bundle).", show_default=False)] = None,
    fmt: Format = OutputFormat.text,
    explain: Annotated[bool, typer.Option("--explain", help="Show why each hit matched (text).")] = False,
    fusion: Annotated[Optional[str], typer.Option("--fusion", help="Score fusion: weighted or rrf [default: the engine config's, weighted].", show_default=False)] = None,
    engine_config: EngineConfigOpt = None,
    threads: Annotated[int, typer.Option("--threads", min=0, help="FAISS threads (0: library default); 1 is fastest for one query.")] = 1,
    artists: Annotated[bool, typer.Option("--artists", help="QUERY names an artist (id, 'Artist:id' or name): list the artists like it, by graph proximity and entity vectors.")] = False,
    home: Home = None,
    device: DeviceOpt = Device.auto,
) -> None:
    """Search the index bundle with a free-text music query, or with many (--queries).

    Entity references ("like X", "similar to X") use entity embeddings, attribute phrases the
    text tower, "not/without Z" subtracts, "not by X" / "from the 1720s" filter.
    Exit 0 on success, 1 on a bundle error or an unreadable --queries line (the others are
    answered), 2 on a bad query or option.

    Example: kgjemb search "fast reel on fiddle" -k 5 --format json
    Example: kgjemb search --queries queries/handwritten.jsonl --format json > hits.jsonl
    Example: kgjemb search --artists "Joseph Haydn" -k 5 --explain
    Example: kgjemb search "songs like Haydn" --engine-config '{"weights": {"graph": 2}}'
    """
    from kgjemb.errors import BundleError, KgjembError, QueryError
    from kgjemb.index.bundle import Bundle
    from kgjemb.paths import bundle_dir, cache_dir
    from kgjemb.query.engine import Engine

    if (query is None) == (queries is None):
        typer.echo("Error: give one QUERY or --queries FILE|-", err=True)
        raise typer.Exit(EXIT_USAGE)
    if queries is not None and queries != "-" and not Path(queries).is_file():
        typer.echo(f"Error: --queries {queries}: no such file", err=True)
        raise typer.Exit(EXIT_USAGE)
    use_device(device)
    skip_teardown()  # read-only: the one-shot search need not free its parser and graph at exit
    # EngineConfig.threads sets FAISS's and the BLAS pools (never imports torch: the query
    # path runs the text encoder on ONNX Runtime and FAISS)
    config = engine_config_from(engine_config, fusion=fusion, threads=threads or None)
    try:
        # HOME's cache holds the ONNX text path and the parser's name table (Engine.open
        # keeps both in the bundle's cache_dir)
        engine = Engine.open(Bundle.open(bundle or bundle_dir(home), cache_dir=cache_dir(home)), config=config)
    except KgjembError as err:
        typer.echo(f"Error: {err}", err=True)
        raise typer.Exit(1) from err

    if artists:
        if query is None:
            typer.echo("Error: --artists takes one QUERY (an artist)", err=True)
            raise typer.Exit(EXIT_USAGE)
        _print_artists(engine, query, k=k, fmt=fmt, explain=explain)
        return

    described = explain or fmt is OutputFormat.json  # the table shows explanations only with --explain
    if query is not None:
        try:
            result = engine.search(query, k=k, explain=described)
        except QueryError as err:
            typer.echo(f"Error: {err}", err=True)
            raise typer.Exit(EXIT_USAGE) from err
        except (BundleError, KgjembError) as err:
            typer.echo(f"Error: {err}", err=True)
            raise typer.Exit(1) from err
        if fmt is OutputFormat.json:
            typer.echo(json.dumps(result_json(result), indent=2, ensure_ascii=False))
        else:
            print_table(result, explain=explain)
        return

    failed = 0
    for number, rid, text, problem in read_queries(queries):
        if problem is None:
            try:
                result = engine.search(text, k=k, explain=described)
            except KgjembError as err:
                problem = str(err)
        if problem is not None:
            failed += 1
            typer.echo(f"Error: {queries}:{number}: {problem}", err=True)
            continue
        if fmt is OutputFormat.json:
            out = result_json(result)
            typer.echo(json.dumps({"id": rid, **out} if rid is not None else out, ensure_ascii=False))
        else:
            print_table(result, explain=explain)
    if failed:
        raise typer.Exit(EXIT_INVALID)


def _print_artists(engine, query: str, *, k: int, fmt: OutputFormat, explain: bool) -> None:
    """``--artists``: the artist named by ``query`` (an id, ``Artist:id``, or a name the parser
    links), then :meth:`Engine.similar_artists`."""
    from kgjemb.errors import KgjembError

    node = query if ":" in query or query in engine.snapshot.entity_row["Artist"] else None
    if node is None:
        linked = [e for e in engine.parse(query).entities if e.label == "Artist" and e.id]
        node = f"Artist:{linked[0].id}" if linked else query
    try:
        result = engine.similar_artists(node, k=k)
    except KgjembError as err:
        typer.echo(f"Error: {err}", err=True)
        raise typer.Exit(EXIT_INVALID) from err
    if fmt is OutputFormat.json:
        typer.echo(json.dumps(result.model_dump(), indent=2, ensure_ascii=False))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=result.query, title_justify="left", show_lines=explain)
    for col in ("#", "score", "artist"):
        table.add_column(col)
    if explain:
        table.add_column("why", overflow="fold")
    for rank, h in enumerate(result.hits, 1):
        table.add_row(str(rank), f"{h.score:.3f}", h.name, *([h.explanation] if explain else []))
    Console().print(table)
