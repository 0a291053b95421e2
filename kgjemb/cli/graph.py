"""``kgjemb graph validate|diff|load|delete|stats``: the curator's commands.

Exit codes: 0 success (catalog valid / loaded), 1 invalid catalog or store failure (nothing
written unless ``--skip-invalid``), 2 usage error (missing catalog directory, bad option),
3 internal error (a bug: logged, never a traceback).
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from kgjemb.cli.common import (EXIT_INVALID, EXIT_USAGE, Database, Format, Home, OutputFormat, Password, Uri, User,
                               store_from_options)

app = typer.Typer(
    no_args_is_help=True,
    help="Validate a catalog directory, load it into the knowledge graph, and inspect the graph.",
)

Catalog = Annotated[Path, typer.Argument(help="Catalog directory: artists/albums/tracks/... as .csv, .jsonl or .parquet, plus audio/.")]
NoProgress = Annotated[bool, typer.Option("--no-progress", help="No progress bar.")]
PruneOpt = Annotated[bool, typer.Option(
    "--prune", help="Mirror the catalog: delete nodes it lacks, and relationships it lacks whose source it speaks for "
                    "('catalog', every source in its rows, and --prune-source).")]
PruneSource = Annotated[Optional[list[str]], typer.Option(
    "--prune-source", help="With --prune: also delete relationships of this source that the catalog lacks (repeatable; "
                           "'*' = every source).")]


def _validate(catalog: Path, check_audio: bool = True, progress: bool = True):
    from kgjemb.catalog.validate import validate_catalog
    from kgjemb.errors import CatalogError

    try:
        return validate_catalog(catalog, check_audio_files=check_audio, progress=progress)
    except CatalogError as err:
        typer.echo(f"Error: {err}", err=True)
        raise typer.Exit(EXIT_USAGE) from err


def _prune(prune: bool, sources: list[str] | None):
    """The :class:`~kgjemb.graph.base.Prune` the options ask for (None: no pruning)."""
    from kgjemb.graph.base import Prune

    if not prune:
        if sources:
            typer.echo("Error: --prune-source needs --prune", err=True)
            raise typer.Exit(EXIT_USAGE)
        return None
    names = frozenset(sources or ())
    return Prune(sources=names - {"*"}, all_sources="*" in names)


def _print_problems(report, catalog: Path) -> None:
    for p in report.problems:
        typer.echo(str(p))
    n_err, n_warn = len(report.errors), len(report.warnings)
    verdict = "valid" if report.valid else "INVALID"
    typer.echo(f"{catalog}: {verdict} — {n_err} error(s), {n_warn} warning(s)")


@app.command()
def validate(
    catalog: Catalog,
    fmt: Format = OutputFormat.text,
    audio: Annotated[bool, typer.Option("--audio/--no-audio", help="Decode the header of every audio file.")] = True,
    no_progress: NoProgress = False,
) -> None:
    """Check a catalog and report EVERY problem at once (file, line, field, message).

    Lines: CSV header is line 1; JSONL lines are 1-based; Parquet rows are index + 2.
    Exit 0 when valid (warnings allowed), 1 when invalid, 2 on usage errors, 3 on internal errors.

    Example: kgjemb graph validate graph/fixtures/example --format json
    """
    _, report = _validate(catalog, audio, progress=not no_progress)
    if fmt is OutputFormat.json:
        typer.echo(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
    else:
        _print_problems(report, catalog)
    raise typer.Exit(0 if report.valid else EXIT_INVALID)


def _counts_table(title: str, counts: dict):
    """Rich table of created / changed / unchanged / deleted per label (``(Artist)``) and
    relationship type (``-[:BY]->``), from :meth:`GraphDiff.counts`."""
    from rich.table import Table

    table = Table(title=title)
    table.add_column("label / type")
    kinds = ("created", "changed", "unchanged", "deleted")
    for kind in kinds:
        table.add_column(kind, justify="right")
    for label, c in counts["nodes"].items():
        table.add_row(f"({label})", *(str(c[k]) for k in kinds))
    for rtype, c in counts["relationships"].items():
        table.add_row(f"-[:{rtype}]->", *(str(c[k]) for k in kinds))
    return table


def _fail(err: Exception, code: int = EXIT_INVALID) -> None:
    typer.echo(f"Error: {err}", err=True)
    raise typer.Exit(code) from err


def _catalog_rows(catalog: Path, fmt: OutputFormat, *, skip_invalid: bool, progress: bool, out: dict,
                  refused: str = "nothing written"):
    """Validate ``catalog`` and build its graph rows; invalid (without a usable
    --skip-invalid): print the problems, say nothing was written and exit 1."""
    from kgjemb.catalog.rows import build_rows

    cat, report = _validate(catalog, progress=progress)  # a bar while decoding audio headers
    out.update({"valid": report.valid, "problems": [p.to_dict() for p in report.problems]})
    if not report.valid and (not skip_invalid or report.fatal()):
        if fmt is OutputFormat.json:
            out["loaded"] = False
            typer.echo(json.dumps(out, indent=2, ensure_ascii=False))
        else:
            _print_problems(report, catalog)
            why = ("problems that affect whole files cannot be skipped" if skip_invalid
                   else "see `kgjemb graph load --skip-invalid` to load the valid rows")
            typer.echo(f"{refused} ({why})")
        raise typer.Exit(EXIT_INVALID)
    rows, dropped = build_rows(cat, skip=report.error_rows() if skip_invalid else None)
    out["skipped_rows"] = {k: v for k, v in dropped.items() if v}
    if fmt is OutputFormat.text and report.problems:
        _print_problems(report, catalog)
    if any(dropped.values()) and fmt is OutputFormat.text:
        typer.echo("rows left out: " + ", ".join(f"{k}={v}" for k, v in dropped.items() if v))
    return cat, rows


@app.command()
def load(
    catalog: Catalog,
    uri: Uri = None,
    user: User = None,
    password: Password = None,
    database: Database = None,
    home: Home = None,
    prune: PruneOpt = False,
    prune_source: PruneSource = None,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Rows per write batch.")] = 5000,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Validate and count what would change; write nothing.")] = False,
    skip_invalid: Annotated[bool, typer.Option(
        "--skip-invalid", help="Load the valid rows and report the rest (rows depending on them are skipped too).")] = False,
    fmt: Format = OutputFormat.text,
    no_progress: NoProgress = False,
) -> None:
    """Validate a catalog, then write it into the graph (embedded by default, Neo4j with --uri).

    Nothing is written when the catalog is invalid (exit 1) unless --skip-invalid is given.
    The report counts, per label and relationship type, what was created, changed (a
    property really changed), unchanged and deleted. Loading is idempotent: loading twice
    gives the same graph and the second load changes nothing. Without --prune nothing is
    deleted; with --prune the graph mirrors the catalog (see `kgjemb graph diff --prune`
    for what that deletes). Embedded: one atomic write. Neo4j: one transaction per batch;
    an interrupted load is completed by running it again.

    Example: kgjemb graph load graph/fixtures/example --home .kgjemb --prune
    """
    from rich.console import Console

    from kgjemb.errors import KgjembError

    policy = _prune(prune, prune_source)
    if policy is not None and skip_invalid:
        typer.echo("Error: --prune needs a valid catalog: with --skip-invalid a skipped row would delete its node "
                   "from the graph", err=True)
        raise typer.Exit(EXIT_USAGE)
    console = Console(stderr=fmt is OutputFormat.json)
    t0 = time.perf_counter()
    out: dict = {}
    cat, rows = _catalog_rows(catalog, fmt, skip_invalid=skip_invalid, progress=not no_progress, out=out)
    t_validate = time.perf_counter() - t0
    try:
        store = store_from_options(uri, home, user, password, database)
        try:
            if dry_run:
                from kgjemb.graph.base import LoadReport

                load_report = LoadReport(diff=store.diff(rows, prune=policy), rows=len(rows), dry_run=True)
            else:
                load_report = store.upsert(rows, prune=policy, batch_size=batch_size, progress=not no_progress)
        finally:
            store.close()
    except (KgjembError, ValueError) as err:
        _fail(err)
    total = time.perf_counter() - t0
    n_catalog = len(cat)
    out["report"] = load_report.to_dict()
    out["validate_seconds"] = round(t_validate, 3)
    out["total_seconds"] = round(total, 3)
    out["catalog_rows_per_s"] = round(n_catalog / total, 1) if total > 0 else None
    if fmt is OutputFormat.json:
        typer.echo(json.dumps(out, indent=2, ensure_ascii=False))
        return
    title = "dry run: would change (nothing written)" if dry_run else ("loaded (pruned)" if policy else "loaded")
    console.print(_counts_table(title, load_report.diff.counts()))
    console.print(
        f"{n_catalog} catalog rows → {load_report.rows} graph rows in {total:.2f}s "
        f"(validate {t_validate:.2f}s, write {load_report.seconds:.2f}s; {n_catalog / total:,.0f} catalog rows/s)")


@app.command()
def diff(
    catalog: Catalog,
    uri: Uri = None,
    user: User = None,
    password: Password = None,
    database: Database = None,
    home: Home = None,
    prune: PruneOpt = False,
    prune_source: PruneSource = None,
    limit: Annotated[Optional[int], typer.Option("--limit", min=0, help="Most items listed per label/type and kind "
                                                 "(counts are always complete) [default: 50 as text, all as JSON].")] = None,
    fmt: Format = OutputFormat.text,
    no_progress: NoProgress = False,
) -> None:
    """Show what `kgjemb graph load CATALOG` would do to the graph, writing nothing.

    Per label and relationship type: created nodes/relationships with their properties,
    changed ones property by property (old → new), and with --prune the ones that would be
    deleted. Text lines start with + (created), ~ (changed), - (deleted). Exit 0 whether or
    not there are differences, 1 for an invalid catalog or store failure.

    Example: kgjemb graph diff graph/fixtures/example --home .kgjemb --prune --format json
    """
    from kgjemb.errors import KgjembError
    from kgjemb.graph.diff import diff_lines, diff_to_dict

    policy = _prune(prune, prune_source)
    out: dict = {}
    _, rows = _catalog_rows(catalog, fmt, skip_invalid=False, progress=not no_progress, out=out,
                            refused="no diff: fix the catalog first")
    try:
        store = store_from_options(uri, home, user, password, database)
        try:
            result = store.diff(rows, prune=policy)
        finally:
            store.close()
    except (KgjembError, ValueError) as err:
        _fail(err)
    if fmt is OutputFormat.json:
        typer.echo(json.dumps(diff_to_dict(result, limit=limit), indent=2, ensure_ascii=False))
        return
    from rich.console import Console

    Console().print(_counts_table("diff (nothing written)" + (", with --prune" if policy else ""), result.counts()))
    for line in diff_lines(result, limit=50 if limit is None else limit):
        typer.echo(line)
    if not result:
        typer.echo("no differences: the graph already holds this catalog")


@app.command()
def delete(
    track: Annotated[Optional[list[str]], typer.Option("--track", help="Track id to delete (repeatable).")] = None,
    artist: Annotated[Optional[list[str]], typer.Option("--artist", help="Artist id to delete (repeatable).")] = None,
    album: Annotated[Optional[list[str]], typer.Option("--album", help="Album id to delete (repeatable).")] = None,
    attribute: Annotated[Optional[list[str]], typer.Option(
        "--attribute", help="Attribute id (kind:value) to delete (repeatable).")] = None,
    uri: Uri = None,
    user: User = None,
    password: Password = None,
    database: Database = None,
    home: Home = None,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Rows per delete batch (Neo4j).")] = 5000,
    fmt: Format = OutputFormat.text,
    no_progress: NoProgress = False,
) -> None:
    """Delete named nodes with all their relationships.

    Nothing else goes: an artist's tracks stay unless named too (`graph load --prune`
    mirrors a whole catalog instead).

    Idempotent: ids not in the graph are reported as not found and ignored (exit 1 when
    none was found). Neo4j: batched, parameterised deletes; rerun an interrupted delete.
    Bundles keep their snapshot until `kgjemb index sync`.

    Example: kgjemb graph delete --track t05 --artist mara-lind --home .kgjemb
    """
    from kgjemb.errors import KgjembError

    wanted = {lb: list(dict.fromkeys(ids)) for lb, ids in
              (("Track", track), ("Artist", artist), ("Album", album), ("Attribute", attribute)) if ids}
    if not wanted:
        typer.echo("Error: name at least one node: --track, --artist, --album or --attribute", err=True)
        raise typer.Exit(EXIT_USAGE)
    try:
        store = store_from_options(uri, home, user, password, database)
        try:
            report = store.delete(wanted, batch_size=batch_size, progress=not no_progress)
        finally:
            store.close()
    except (KgjembError, ValueError) as err:
        _fail(err)
    deleted = {lb: sorted(report.diff.nodes[lb].deleted) for lb in wanted}
    missing = {lb: [i for i in ids if i not in report.diff.nodes[lb].deleted] for lb, ids in wanted.items()}
    missing = {lb: ids for lb, ids in missing.items() if ids}
    out = {"deleted": deleted, "not_found": missing, "report": report.to_dict()}
    if fmt is OutputFormat.json:
        typer.echo(json.dumps(out, indent=2, ensure_ascii=False))
    else:
        from rich.console import Console

        Console().print(_counts_table("deleted", report.diff.counts()))
        for lb, ids in missing.items():
            typer.echo(f"not in the graph (ignored): {lb} {', '.join(ids)}")
    if not any(deleted.values()):
        raise typer.Exit(EXIT_INVALID)


@app.command()
def stats(
    uri: Uri = None,
    user: User = None,
    password: Password = None,
    database: Database = None,
    home: Home = None,
    fmt: Format = OutputFormat.text,
) -> None:
    """Count nodes per label and relationships per type (every label/type listed, 0 if none).

    JSON: {"nodes": {label: n}, "relationships": {type: n}}.

    Example: kgjemb graph stats --home .kgjemb --format json
    """
    from kgjemb.errors import KgjembError

    try:
        store = store_from_options(uri, home, user, password, database)
        try:
            result = store.stats().to_dict()
        finally:
            store.close()
    except KgjembError as err:
        _fail(err)
    if fmt is OutputFormat.json:
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
