"""``kgjemb graph validate|load|stats``: the curator's commands.

Exit codes: 0 success (catalog valid / loaded), 1 invalid catalog or store failure (nothing
written unless ``--skip-invalid``), 2 usage error (missing catalog directory, bad option),
3 internal error (a bug: logged, never a traceback).
"""
from __future__ import annotations

import json
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Annotated

import typer

from kgjemb.cli.common import Database, Home, Password, Uri, User, store_from_options

app = typer.Typer(
    no_args_is_help=True,
    help="Validate a catalog directory, load it into the knowledge graph, and inspect the graph.",
)

Catalog = Annotated[Path, typer.Argument(help="Catalog directory: artists/albums/tracks/... as .csv, .jsonl or .parquet, plus audio/.")]
FormatOpt = Annotated[str, typer.Option("--format", help="Output format: text or json.")]
FORMATS = ("text", "json")


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        typer.echo(f"Error: unknown --format {fmt!r}; choose from {list(FORMATS)}", err=True)
        raise typer.Exit(2)


def _validate(catalog: Path, check_audio: bool = True, progress: bool = True):
    from kgjemb.catalog.validate import validate_catalog
    from kgjemb.errors import CatalogError

    try:
        return validate_catalog(catalog, check_audio_files=check_audio, progress=progress)
    except CatalogError as err:
        typer.echo(f"Error: {err}", err=True)
        raise typer.Exit(2) from err


def _print_problems(report, catalog: Path) -> None:
    for p in report.problems:
        typer.echo(str(p))
    n_err, n_warn = len(report.errors), len(report.warnings)
    verdict = "valid" if report.valid else "INVALID"
    typer.echo(f"{catalog}: {verdict} — {n_err} error(s), {n_warn} warning(s)")


@app.command()
def validate(
    catalog: Catalog,
    fmt: FormatOpt = "text",
    audio: Annotated[bool, typer.Option("--audio/--no-audio", help="Decode the header of every audio file.")] = True,
    no_progress: Annotated[bool, typer.Option("--no-progress", help="No progress bar.")] = False,
) -> None:
    """Check a catalog and report EVERY problem at once (file, line, field, message).

    Lines: CSV header is line 1; JSONL lines are 1-based; Parquet rows are index + 2.
    Exit 0 when valid (warnings allowed), 1 when invalid, 2 on usage errors, 3 on internal errors.

    Example: kgjemb graph validate graph/fixtures/example --format json
    """
    _check_format(fmt)
    _, report = _validate(catalog, audio, progress=not no_progress)
    if fmt == "json":
        typer.echo(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
    else:
        _print_problems(report, catalog)
    raise typer.Exit(0 if report.valid else 1)


def _summary_table(title: str, created: dict, updated: dict | None):
    """Rich table of counts per label (``(Artist)``) and relationship type (``-[:BY]->``)."""
    from rich.table import Table

    from kgjemb.catalog.schema import NODE_LABELS

    table = Table(title=title)
    table.add_column("label / type")
    table.add_column("created" if updated is not None else "rows", justify="right")
    if updated is not None:
        table.add_column("updated", justify="right")
    for key in created:
        name = f"({key})" if key in NODE_LABELS else f"-[:{key}]->"
        cells = [name, str(created[key])] + ([str(updated.get(key, 0))] if updated is not None else [])
        table.add_row(*cells)
    return table


@app.command()
def load(
    catalog: Catalog,
    uri: Uri = None,
    user: User = None,
    password: Password = None,
    database: Database = None,
    home: Home = None,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Rows per write batch.")] = 5000,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Validate and report what would be written; write nothing.")] = False,
    skip_invalid: Annotated[bool, typer.Option(
        "--skip-invalid", help="Load the valid rows and report the rest (rows depending on them are skipped too).")] = False,
    fmt: FormatOpt = "text",
    no_progress: Annotated[bool, typer.Option("--no-progress", help="No progress bar.")] = False,
) -> None:
    """Validate a catalog, then upsert it into the graph (embedded by default, Neo4j with --uri).

    Nothing is written when the catalog is invalid (exit 1) unless --skip-invalid is given.
    Loading is idempotent: loading twice gives the same graph; an updated catalog updates
    properties and adds nodes and relationships.

    Example: kgjemb graph load graph/fixtures/example --home .kgjemb
    """
    from rich.console import Console

    from kgjemb.catalog.rows import build_rows
    from kgjemb.errors import KgjembError

    _check_format(fmt)
    console = Console(stderr=fmt == "json")
    t0 = time.perf_counter()
    cat, report = _validate(catalog, progress=not no_progress)  # a bar while decoding audio headers
    t_validate = time.perf_counter() - t0
    out: dict = {"valid": report.valid, "problems": [p.to_dict() for p in report.problems]}
    fatal = report.fatal()
    if not report.valid and (not skip_invalid or fatal):
        if fmt == "json":
            out["loaded"] = False
            typer.echo(json.dumps(out, indent=2, ensure_ascii=False))
        else:
            _print_problems(report, catalog)
            why = "problems that affect whole files cannot be skipped" if skip_invalid else "use --skip-invalid to load the valid rows"
            typer.echo(f"nothing written ({why})")
        raise typer.Exit(1)
    with console.status("building graph rows …") if not no_progress else nullcontext():
        rows, dropped = build_rows(cat, skip=report.error_rows() if skip_invalid else None)
    out["skipped_rows"] = {k: v for k, v in dropped.items() if v}
    if fmt == "text" and report.problems:
        _print_problems(report, catalog)
    if any(dropped.values()) and fmt == "text":
        typer.echo("rows left out: " + ", ".join(f"{k}={v}" for k, v in dropped.items() if v))
    if dry_run:
        would = {lb: len(v) for lb, v in rows.nodes.items()}
        rels: dict[str, int] = {}
        for (_, rtype, _), v in rows.edges.items():
            rels[rtype] = rels.get(rtype, 0) + len(v)
        out["would_write"] = {"nodes": would, "relationships": rels}
        if fmt == "json":
            typer.echo(json.dumps(out, indent=2, ensure_ascii=False))
        else:
            console.print(_summary_table("dry run: would write (nothing written)", {**would, **rels}, None))
            console.print(f"{len(cat)} catalog rows → {len(rows)} graph rows; validated in {t_validate:.2f}s")
        raise typer.Exit(0)
    try:
        store = store_from_options(uri, home, user, password, database)
        try:
            load_report = store.upsert(rows, batch_size=batch_size, progress=not no_progress)
        finally:
            store.close()
    except KgjembError as err:
        typer.echo(f"Error: {err}", err=True)
        raise typer.Exit(1) from err
    total = time.perf_counter() - t0
    n_catalog = len(cat)
    out["report"] = load_report.to_dict()
    out["validate_seconds"] = round(t_validate, 3)
    out["total_seconds"] = round(total, 3)
    out["catalog_rows_per_s"] = round(n_catalog / total, 1) if total > 0 else None
    if fmt == "json":
        typer.echo(json.dumps(out, indent=2, ensure_ascii=False))
    else:
        created = {**load_report.nodes_created, **load_report.rels_created}
        updated = {**load_report.nodes_updated, **load_report.rels_updated}
        console.print(_summary_table("loaded", created, updated))
        console.print(
            f"{n_catalog} catalog rows → {load_report.rows} graph rows in {total:.2f}s "
            f"(validate {t_validate:.2f}s, write {load_report.seconds:.2f}s; {n_catalog / total:,.0f} catalog rows/s)")


@app.command()
def stats(
    uri: Uri = None,
    user: User = None,
    password: Password = None,
    database: Database = None,
    home: Home = None,
    fmt: FormatOpt = "text",
) -> None:
    """Count nodes per label and relationships per type (every label/type listed, 0 if none).

    JSON: {"nodes": {label: n}, "relationships": {type: n}}.

    Example: kgjemb graph stats --home .kgjemb --format json
    """
    from kgjemb.errors import KgjembError

    _check_format(fmt)
    try:
        store = store_from_options(uri, home, user, password, database)
        try:
            result = store.stats().to_dict()
        finally:
            store.close()
    except KgjembError as err:
        typer.echo(f"Error: {err}", err=True)
        raise typer.Exit(1) from err
    if fmt == "json":
        typer.echo(json.dumps(result, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="graph")
    table.add_column("label / type")
    table.add_column("count", justify="right")
    for label, n in result["nodes"].items():
        table.add_row(f"({label})", str(n))
    for rtype, n in result["relationships"].items():
        table.add_row(f"-[:{rtype}]->", str(n))
    Console().print(table)
