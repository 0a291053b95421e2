"""A tiny hand-made GraphExport for the parser tests (names, aliases, credits, attributes).

Built from pandas frames so the parser tests do not depend on the catalog loader; the
ids are the ones tests/data/parser_cases.jsonl expects.
"""
from __future__ import annotations

import pandas as pd

from kgjemb.catalog.schema import EDGE_PROPERTIES, NODE_PROPERTIES, attribute_id
from kgjemb.graph.base import GraphExport

ARTISTS = [
    ("bach", "Johann Sebastian Bach", ["J. S. Bach", "Bach", "JS Bach"]),
    ("beethoven", "Ludwig van Beethoven", ["Beethoven"]),
    ("haydn", "Joseph Haydn", ["Haydn", "Franz Joseph Haydn"]),
    ("handel", "George Frideric Handel", ["Handel", "Händel"]),
    ("oneill", "Francis O'Neill", ["O'Neill", "O'Neill's tradition"]),
    ("dvorak", "Antonín Dvořák", ["Dvořák"]),
    ("tchaikovsky", "Pyotr Ilyich Tchaikovsky", ["Tchaikovsky"]),
    ("schiller_choir", "Schiller Choir", []),
]
ALBUMS = [  # id, title, artist
    ("alb_chorales", "Chorales", "bach"),
    ("alb_ninth", "Symphony No. 9", "beethoven"),
    ("alb_lark", "The Lark", "haydn"),
    ("alb_oneill", "O'Neill's Music of Ireland", "oneill"),
]
TRACKS = [  # id, title, artist, album, attributes
    ("t_jesu", "Jesu, meine Freude", "bach", "alb_chorales", ["form:chorale", "era:baroque", "instrument:organ"]),
    ("t_wachet", "Wachet auf", "bach", "alb_chorales", ["form:chorale", "era:baroque"]),
    ("t_air", "Air on the G String", "bach", None, ["instrument:strings", "tempo:slow", "key:d major"]),
    ("t_ode", "Ode to Joy", "beethoven", "alb_ninth", ["mood:joyful", "vocal:vocals"]),
    ("t_ode_choir", "Ode to Joy", "schiller_choir", None, ["vocal:vocals"]),
    ("t_moonlight", "Moonlight Sonata", "beethoven", None, ["instrument:piano", "mood:melancholic"]),
    ("t_elise", "Für Elise", "beethoven", None, ["instrument:piano"]),
    ("t_lark", "The Lark", "haydn", "alb_lark", ["ensemble:string quartet", "era:classical"]),
    ("t_surprise", "Surprise Symphony", "haydn", None, ["era:classical"]),
    ("t_hallelujah", "Hallelujah", "handel", None, ["vocal:vocals", "era:baroque"]),
    ("t_water", "Water Music", "handel", None, ["era:baroque"]),
    ("t_morning", "The Morning Star", "oneill", "alb_oneill", ["form:reel", "region:ireland", "tempo:fast"]),
    ("t_kesh", "The Kesh", "oneill", "alb_oneill", ["form:jig", "meter:6/8", "region:ireland"]),
    ("t_spear", "Silver Spear", "oneill", "alb_oneill", ["form:reel", "key:d major"]),
    ("t_largo", "Largo", "dvorak", None, ["tempo:slow", "mood:melancholic"]),
    ("t_slow_air", "Slow Air", "oneill", None, ["form:air", "tempo:slow"]),
    ("t_1812", "1812 Overture", "tchaikovsky", None, ["instrument:drums"]),
]
EXTRA_ATTRIBUTES = ["key:a major", "mode:major", "key:d minor", "mood:melancholic", "era:romantic", "genre:folk", "instrument:violin", "form:fugue"]


def _frame(rows: list[dict], columns: list[str], sort: list[str]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=columns)
    return frame.sort_values(sort).reset_index(drop=True) if len(frame) else frame


def make_export() -> GraphExport:
    """The test graph as a GraphExport (same shape a store's ``export()`` returns)."""
    export = GraphExport.empty()
    export.nodes["Artist"] = _frame(
        [{"id": a, "name": n, "aliases": al, "born": None, "died": None, "country": None} for a, n, al in ARTISTS],
        ["id", *NODE_PROPERTIES["Artist"]], ["id"],
    )
    export.nodes["Album"] = _frame(
        [{"id": a, "title": t, "year": None} for a, t, _ in ALBUMS], ["id", *NODE_PROPERTIES["Album"]], ["id"]
    )
    export.nodes["Track"] = _frame(
        [{"id": t, "title": ti, "duration_s": 30.0, "year": None, "audio_path": None} for t, ti, *_ in TRACKS],
        ["id", *NODE_PROPERTIES["Track"]], ["id"],
    )
    attrs = sorted({a for *_, al in TRACKS for a in al} | set(EXTRA_ATTRIBUTES))
    export.nodes["Attribute"] = _frame(
        [{"id": attribute_id(*a.split(":")), "name": a.split(":")[1], "kind": a.split(":")[0]} for a in attrs],
        ["id", *NODE_PROPERTIES["Attribute"]], ["id"],
    )
    cols = ["src", "dst", *EDGE_PROPERTIES]
    edge = lambda s, d, role=None: {"src": s, "dst": d, "weight": 1.0, "source": "test", "role": role}  # noqa: E731
    export.edges[("Track", "BY", "Artist")] = _frame([edge(t, a, "primary") for t, _, a, *_ in TRACKS], cols, ["src", "dst"])
    export.edges[("Track", "ON", "Album")] = _frame([edge(t, al) for t, _, _, al, _ in TRACKS if al], cols, ["src", "dst"])
    export.edges[("Album", "BY", "Artist")] = _frame([edge(al, a) for al, _, a in ALBUMS], cols, ["src", "dst"])
    export.edges[("Track", "HAS", "Attribute")] = _frame(
        [edge(t, attribute_id(*a.split(":"))) for t, *_, al in TRACKS for a in al], cols, ["src", "dst"]
    )
    return export

