"""Masked query-time snapshots (:func:`kgjemb.eval.mask.mask_export`) on the fixture
catalog: what is hidden, what stays, seeding, nesting, purity."""
from __future__ import annotations

import copy

import pytest

from kgjemb.catalog.schema import REL_TYPES
from kgjemb.eval.mask import MASKED_RELATIONS, hidden_counts, mask_export
from kgjemb.eval.rules import GraphFacts, Rule, resolve
from kgjemb.graph.frames import export_diff

HAS = ("Track", "HAS", "Attribute")
VERSION_OF = ("Track", "VERSION_OF", "Track")


@pytest.fixture(scope="module")
def full(fixture_catalog):
    from kgjemb.graph.open import catalog_export

    return catalog_export(fixture_catalog)


@pytest.fixture(scope="module")
def evaluated(full):
    """Every other track, so that the edges of non-evaluated tracks are there to be kept."""
    ids = list(full.nodes["Track"]["id"])
    return ids[::2]


def _edges(export, key) -> set[tuple[str, str]]:
    return set(zip(export.edges[key]["src"], export.edges[key]["dst"]))


def _candidates(full, key, evaluated) -> set[tuple[str, str]]:
    ev = set(evaluated)
    return {(s, d) for s, d in _edges(full, key) if s in ev or (key[2] == "Track" and d in ev)}


def test_masked_relations_are_the_track_attribute_and_track_track_edges():
    assert set(MASKED_RELATIONS) == {HAS, VERSION_OF}
    assert all(k[1] not in ("BY", "ON") for k in MASKED_RELATIONS)


def test_rate_zero_hides_nothing(full, evaluated):
    masked = mask_export(full, track_ids=evaluated, rate=0.0, seed=3)
    assert export_diff(full, masked) == []
    assert hidden_counts(full, masked) == {"Track-HAS-Attribute": 0, "Track-VERSION_OF-Track": 0}


def test_rate_one_hides_every_track_fact_of_the_evaluated_tracks_and_keeps_credits(full, evaluated):
    masked = mask_export(full, track_ids=evaluated, rate=1.0, seed=0)
    for key in MASKED_RELATIONS:
        cand = _candidates(full, key, evaluated)
        assert cand, f"the fixture has {key} edges of evaluated tracks, so the check means something"
        assert _edges(masked, key) == _edges(full, key) - cand
        assert _edges(masked, key) or key == VERSION_OF  # the non-evaluated tracks keep theirs
    for key in REL_TYPES:
        if key not in MASKED_RELATIONS:  # BY, ON, album and artist edges stay untouched
            assert masked.edges[key].equals(full.edges[key]), key
    for label, frame in full.nodes.items():
        assert masked.nodes[label].equals(frame)
    assert hidden_counts(full, masked)["Track-HAS-Attribute"] == len(_candidates(full, HAS, evaluated))


def test_share_is_exact_per_relation_and_nested_across_rates(full, evaluated):
    hidden = {}
    for rate in (0.25, 0.5, 0.75, 1.0):
        masked = mask_export(full, track_ids=evaluated, rate=rate, seed=0)
        for key in MASKED_RELATIONS:
            cand = _candidates(full, key, evaluated)
            gone = _edges(full, key) - _edges(masked, key)
            assert gone <= cand
            assert len(gone) == int(rate * len(cand) + 0.5), (rate, key)
            hidden[rate, key] = gone
    for key in MASKED_RELATIONS:
        assert hidden[0.25, key] <= hidden[0.5, key] <= hidden[0.75, key] <= hidden[1.0, key]


def test_seeded_same_seed_same_edges_other_seed_other_edges(full, evaluated):
    a = mask_export(full, track_ids=evaluated, rate=0.5, seed=7)
    b = mask_export(full, track_ids=evaluated, rate=0.5, seed=7)
    c = mask_export(full, track_ids=evaluated, rate=0.5, seed=8)
    assert export_diff(a, b) == []
    assert _edges(a, HAS) != _edges(c, HAS)
    assert len(_edges(a, HAS)) == len(_edges(c, HAS))
    # the choice depends on the edges, not on the order the export lists them in
    shuffled = copy.copy(full)
    shuffled.edges = dict(full.edges)
    shuffled.edges[HAS] = full.edges[HAS].sample(frac=1.0, random_state=1).reset_index(drop=True)
    assert _edges(mask_export(shuffled, track_ids=evaluated, rate=0.5, seed=7), HAS) == _edges(a, HAS)


def test_pure_and_validated(full, evaluated):
    before = copy.deepcopy(full)
    mask_export(full, track_ids=evaluated, rate=1.0, seed=0)
    assert export_diff(before, full) == []
    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match=r"within \[0, 1\]"):
            mask_export(full, track_ids=evaluated, rate=bad, seed=0)


def test_relevance_is_judged_on_the_full_graph(full, evaluated):
    """The runner resolves relevance with facts of the full export: a rule's relevant set
    does not change with the mask, while the masked snapshot itself would lose it."""
    attr = full.edges[HAS]["dst"].value_counts().index[0]  # the most common attribute
    rule = Rule(attributes=[attr])
    truth = resolve(rule, GraphFacts.from_export(full), pool=evaluated)
    assert truth
    masked = mask_export(full, track_ids=evaluated, rate=1.0, seed=0)
    assert resolve(rule, GraphFacts.from_export(masked), pool=evaluated) == {}  # what a system can no longer see
