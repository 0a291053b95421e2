"""Compute what a load (or a deletion) changes in a graph, identically for every store.

A store hands its current graph as *tables* — ``nodes[label]: {id: property tuple}`` and
``edges[key]: {(src, dst): (weight, source, role)}``, tuples in ``NODE_PROPERTIES`` /
``EDGE_PROPERTIES`` order (the embedded store's own layout; Neo4j builds them from its
export statements) — and :func:`diff_tables` compares them with the tables of the rows
to write. Values are compared after the export's type normalisation
(:func:`~kgjemb.graph.frames.normalise_value`), so *changed* means a property really
changed, whichever store holds the graph.

Rules (see :class:`~kgjemb.graph.base.Prune`):

- a node or relationship of the rows that the graph lacks is *created*, one whose
  properties differ is *changed*, the rest *unchanged*; a relationship whose endpoint
  would not exist after the write is left out (``dangling``), as ``upsert`` always did;
- with ``prune``: nodes absent from the rows are deleted, and so are relationships absent
  from the rows whose source the rows speak for; a relationship touching a deleted node
  is always deleted;
- ``delete``: named nodes are deleted with their relationships (``graph delete``).

>>> from kgjemb.graph.diff import diff_tables, rows_to_tables
>>> nodes, edges = rows_to_tables(rows)                       # doctest: +SKIP
>>> diff_tables(store_nodes, store_edges, nodes, edges, prune=Prune()).counts()  # doctest: +SKIP
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from operator import itemgetter

from kgjemb.catalog.rows import DEFAULT_SOURCE
from kgjemb.catalog.schema import EDGE_PROPERTIES, NODE_LABELS, NODE_PROPERTIES, REL_TYPES
from kgjemb.graph.base import EdgeKey, GraphDiff, GraphExport, GraphRows, Prune, TableDiff
from kgjemb.graph.frames import normalise_value

__all__ = ["diff_lines", "diff_tables", "diff_to_dict", "export_to_tables", "rows_to_tables",
           "write_rows"]

NodeTables = Mapping[str, Mapping[str, tuple]]
EdgeTables = Mapping[EdgeKey, Mapping[tuple[str, str], tuple]]

_SOURCE = EDGE_PROPERTIES.index("source")


def _getter(keys: tuple[str, ...]):
    get = itemgetter(*keys)
    return get if len(keys) > 1 else (lambda row: (get(row),))


def rows_to_tables(rows: GraphRows) -> tuple[dict[str, dict[str, tuple]], dict[EdgeKey, dict[tuple[str, str], tuple]]]:
    """The tables of ``rows`` (one entry per id / (src, dst): the last row wins). Raises
    ``ValueError`` naming the label or type and the missing key of an incomplete row, or
    an unknown label / relationship key."""
    bad = [lb for lb in rows.nodes if lb not in NODE_LABELS] + [k for k in rows.edges if tuple(k) not in REL_TYPES]
    if bad:
        raise ValueError(f"unknown label(s)/edge key(s) {bad}; choose from {list(NODE_LABELS)} / {list(REL_TYPES)}")
    nodes: dict[str, dict[str, tuple]] = {}
    for label in NODE_LABELS:
        props = _getter(NODE_PROPERTIES[label])
        try:
            nodes[label] = {r["id"]: props(r) for r in rows.nodes.get(label, ())}
        except KeyError as err:
            raise ValueError(f"a {label} row lacks {err}; rows need id + {list(NODE_PROPERTIES[label])}") from err
    edges: dict[EdgeKey, dict[tuple[str, str], tuple]] = {}
    props = _getter(EDGE_PROPERTIES)
    for key in REL_TYPES:
        try:
            edges[key] = {(r["src"], r["dst"]): props(r) for r in rows.edges.get(key, ())}
        except KeyError as err:
            raise ValueError(f"a {key[1]} row lacks {err}; rows need src, dst + {list(EDGE_PROPERTIES)}") from err
    return nodes, edges


def export_to_tables(export: GraphExport) -> tuple[dict[str, dict[str, tuple]], dict[EdgeKey, dict[tuple[str, str], tuple]]]:
    """The tables of a :class:`~kgjemb.graph.base.GraphExport` (e.g. a bundle's snapshot)."""
    nodes = {}
    for label in NODE_LABELS:
        frame = export.nodes[label]
        cols = [frame[c].tolist() for c in NODE_PROPERTIES[label]]
        nodes[label] = dict(zip(frame["id"].tolist(), zip(*cols))) if len(frame) else {}
    edges = {}
    for key in REL_TYPES:
        frame = export.edges[key]
        cols = [frame[c].tolist() for c in EDGE_PROPERTIES]
        edges[key] = dict(zip(zip(frame["src"].tolist(), frame["dst"].tolist()), zip(*cols))) if len(frame) else {}
    return nodes, edges


def _differs(props: tuple[str, ...], old: tuple, new: tuple) -> bool:
    if old == new:  # the common case, at C speed
        return False
    return any(normalise_value(p, a) != normalise_value(p, b) for p, a, b in zip(props, old, new))


def _compare(props: tuple[str, ...], old: Mapping, new: Mapping, table: TableDiff, exists=None) -> None:
    for key, values in new.items():
        before = old.get(key)
        if before is None:
            if exists is None or exists(key):
                table.created[key] = values
            else:
                table.dangling += 1
        elif _differs(props, before, values):
            table.changed[key] = (before, values)
        else:
            table.unchanged += 1


def diff_tables(
    old_nodes: NodeTables,
    old_edges: EdgeTables,
    new_nodes: NodeTables,
    new_edges: EdgeTables,
    *,
    prune: Prune | None = None,
    delete: Mapping[str, Iterable[str]] | None = None,
) -> GraphDiff:
    """What writing the ``new`` tables over the ``old`` ones does (see the module
    docstring). ``prune`` (default None: delete nothing) mirrors the graph to ``new``;
    ``delete`` names nodes (``{label: ids}``) to delete with their relationships."""
    if not any(old_nodes.values()) and not any(old_edges.values()):
        return _diff_from_empty(new_nodes, new_edges, pruned=prune is not None)
    nodes: dict[str, TableDiff] = {}
    for label in NODE_LABELS:
        old, new = old_nodes.get(label, {}), new_nodes.get(label, {})
        table = nodes[label] = TableDiff()
        _compare(NODE_PROPERTIES[label], old, new, table)
        if prune is not None:
            table.deleted = {k: old[k] for k in old.keys() - new.keys()}
        for node_id in (delete or {}).get(label, ()):
            if node_id in old:
                table.deleted[node_id] = old[node_id]
    gone = {lb: t.deleted.keys() for lb, t in nodes.items()}
    sources: set | None = None
    if prune is not None and not prune.all_sources:
        sources = {DEFAULT_SOURCE, *prune.sources}
        for table in new_edges.values():
            sources.update(v[_SOURCE] for v in table.values())
    edges: dict[EdgeKey, TableDiff] = {}
    for key in REL_TYPES:
        src_label, _, dst_label = key
        old, new = old_edges.get(key, {}), new_edges.get(key, {})
        table = edges[key] = TableDiff()
        src_old, dst_old = old_nodes.get(src_label, {}), old_nodes.get(dst_label, {})
        src_new, dst_new = new_nodes.get(src_label, {}), new_nodes.get(dst_label, {})
        src_gone, dst_gone = gone[src_label], gone[dst_label]

        def exists(pair, so=src_old, sn=src_new, do=dst_old, dn=dst_new, sg=src_gone, dg=dst_gone) -> bool:
            s, d = pair
            return (s in sn or (s in so and s not in sg)) and (d in dn or (d in do and d not in dg))

        _compare(EDGE_PROPERTIES, old, new, table, exists)
        if src_gone or dst_gone:
            table.deleted = {p: v for p, v in old.items() if p[0] in src_gone or p[1] in dst_gone}
        if prune is not None:
            for pair in old.keys() - new.keys():
                if sources is None or old[pair][_SOURCE] in sources:
                    table.deleted[pair] = old[pair]
                elif pair not in table.deleted:
                    table.kept[pair] = old[pair]
    return GraphDiff(nodes=nodes, edges=edges, pruned=prune is not None)


def _diff_from_empty(new_nodes: NodeTables, new_edges: EdgeTables, *, pruned: bool) -> GraphDiff:
    """:func:`diff_tables` against an empty graph (a first load), at C speed: every node is
    created, every relationship whose endpoints are among the new nodes too, the rest is
    dangling; nothing to change, delete (prune or ``delete``) or keep."""
    nodes = {label: TableDiff(created=dict(new_nodes.get(label, {}))) for label in NODE_LABELS}
    edges: dict[EdgeKey, TableDiff] = {}
    for key in REL_TYPES:
        src_ids, dst_ids = nodes[key[0]].created, nodes[key[2]].created
        new = new_edges.get(key, {})
        created = {p: v for p, v in new.items() if p[0] in src_ids and p[1] in dst_ids}
        edges[key] = TableDiff(created=created, dangling=len(new) - len(created))
    return GraphDiff(nodes=nodes, edges=edges, pruned=pruned)


def write_rows(diff: GraphDiff) -> GraphRows:
    """The rows a store writes to apply ``diff``: its created and changed nodes and
    relationships with their new properties (deletions are separate)."""
    nodes = {}
    for label, table in diff.nodes.items():
        keys = NODE_PROPERTIES[label]
        items = [*table.created.items(), *((k, new) for k, (_, new) in table.changed.items())]
        nodes[label] = [{"id": k, **dict(zip(keys, v))} for k, v in items]
    edges = {}
    for key, table in diff.edges.items():
        items = [*table.created.items(), *((k, new) for k, (_, new) in table.changed.items())]
        edges[key] = [{"src": s, "dst": d, **dict(zip(EDGE_PROPERTIES, v))} for (s, d), v in items]
    return GraphRows(nodes=nodes, edges=edges)


def _props(keys: tuple[str, ...], values: tuple) -> dict:
    return {k: normalise_value(k, v) for k, v in zip(keys, values)}


def _changes(keys: tuple[str, ...], old: tuple, new: tuple) -> dict:
    out = {}
    for k, a, b in zip(keys, old, new):
        a, b = normalise_value(k, a), normalise_value(k, b)
        if a != b:
            out[k] = {"old": a, "new": b}
    return out


def diff_to_dict(diff: GraphDiff, *, limit: int | None = None) -> dict:
    """JSON-ready diff: ``counts`` plus, per label and relationship type, the created
    (with properties), changed (property by property, old → new) and deleted items, and
    the relationships a prune keeps for their source, sorted; at most ``limit`` items per
    list (None: all)."""
    out: dict = {"pruned": diff.pruned, "counts": diff.counts(), "nodes": {}, "relationships": {}}
    cut = (lambda xs: xs[:limit]) if limit is not None else (lambda xs: xs)
    for label, table in diff.nodes.items():
        keys = NODE_PROPERTIES[label]
        out["nodes"][label] = {
            "created": cut([{"id": k, "properties": _props(keys, table.created[k])} for k in sorted(table.created)]),
            "changed": cut([{"id": k, "changes": _changes(keys, *table.changed[k])} for k in sorted(table.changed)]),
            "deleted": cut([{"id": k} for k in sorted(table.deleted)]),
        }
    rels: dict[str, dict[str, list]] = {}
    for key, table in diff.edges.items():
        src_label, rtype, dst_label = key
        acc = rels.setdefault(rtype, {"created": [], "changed": [], "deleted": [], "kept": []})

        def ends(pair):
            return {"src": f"{src_label}:{pair[0]}", "dst": f"{dst_label}:{pair[1]}"}

        acc["created"] += [{**ends(p), "properties": _props(EDGE_PROPERTIES, table.created[p])} for p in sorted(table.created)]
        acc["changed"] += [{**ends(p), "changes": _changes(EDGE_PROPERTIES, *table.changed[p])} for p in sorted(table.changed)]
        acc["deleted"] += [ends(p) for p in sorted(table.deleted)]
        acc["kept"] += [{**ends(p), "source": table.kept[p][_SOURCE]} for p in sorted(table.kept)]
    out["relationships"] = {t: {k: cut(v) for k, v in parts.items()} for t, parts in sorted(rels.items())}
    return out


def _fmt(props: dict) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in props.items() if v not in (None, []))


def diff_lines(diff: GraphDiff, *, limit: int | None = 50) -> list[str]:
    """The diff as text, one line per item: ``+`` created, ``~`` changed (``prop: old → new``),
    ``-`` deleted, ``=`` kept by a prune for its source; at most ``limit`` lines per label / type and kind (None: all)."""
    doc = diff_to_dict(diff)
    lines: list[str] = []

    def section(items: list, render) -> None:
        shown = items if limit is None else items[:limit]
        lines.extend(render(x) for x in shown)
        if len(items) > len(shown):
            lines.append(f"  … {len(items) - len(shown)} more")

    def changes(c: dict) -> str:
        return "; ".join(f"{k}: {v['old']!r} → {v['new']!r}" for k, v in c.items())

    for label, parts in doc["nodes"].items():
        section(parts["created"], lambda x, lb=label: f"+ ({lb} {x['id']}) {_fmt(x['properties'])}")
        section(parts["changed"], lambda x, lb=label: f"~ ({lb} {x['id']}) {changes(x['changes'])}")
        section(parts["deleted"], lambda x, lb=label: f"- ({lb} {x['id']})")
    for rtype, parts in doc["relationships"].items():
        def edge(x, t=rtype):
            return f"({x['src']})-[:{t}]->({x['dst']})"

        section(parts["created"], lambda x: f"+ {edge(x)} {_fmt(x['properties'])}")
        section(parts["changed"], lambda x: f"~ {edge(x)} {changes(x['changes'])}")
        section(parts["deleted"], lambda x: f"- {edge(x)}")
        section(parts["kept"], lambda x: f"= {edge(x)} kept: not in the catalog, but its source {x['source']!r} "
                                         f"is not pruned (--prune-source {x['source']} deletes it)")
    return lines
