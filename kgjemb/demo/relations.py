"""Hand-curated historical artist relations (``data/relations.csv``).

Each row is a documented fact with the standard reference it comes from (teacher/pupil and
acknowledged influence → ``INFLUENCED_BY``; contemporaries of one style → ``SIMILAR_TO``).
Only facts we are certain of are listed; rows whose artists are not in a build are dropped.

>>> rows = curated_relations({"beethoven", "haydn"})
>>> rows[0]["src"], rows[0]["type"], rows[0]["dst"]
('beethoven', 'INFLUENCED_BY', 'haydn')
"""
from __future__ import annotations

import csv
from importlib import resources

__all__ = ["curated_relations"]


def curated_relations(artist_ids: set[str]) -> list[dict]:
    """Relations rows (src, type, dst, weight, source, role) among ``artist_ids``."""
    text = resources.files("kgjemb.demo").joinpath("data/relations.csv").read_text(encoding="utf-8")
    out = []
    for row in csv.DictReader(text.splitlines()):
        if row["src"] in artist_ids and row["dst"] in artist_ids:
            out.append({"src": row["src"], "type": row["type"], "dst": row["dst"], "weight": 1.0,
                        "source": row["source"], "role": None})
    return out
