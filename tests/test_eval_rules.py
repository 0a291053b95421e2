"""Relevance rules resolved against the fixture catalog graph, checked against a reference
computed straight from the catalog files; training-vocabulary check of unseen words."""
from __future__ import annotations

import pandas as pd
import pytest

from kgjemb.catalog.schema import attribute_id
from kgjemb.errors import UnknownEntityError
from kgjemb.eval.rules import GraphFacts, Rule, resolve


@pytest.fixture
def facts(loaded_embedded_store):
    return GraphFacts.from_export(loaded_embedded_store.export())


@pytest.fixture
def raw(fixture_catalog):
    attrs = pd.read_json(fixture_catalog / "track_attributes.jsonl", lines=True)
    attrs["aid"] = [attribute_id(k, v) for k, v in zip(attrs["kind"], attrs["value"])]
    tracks = pd.read_csv(fixture_catalog / "tracks.csv")
    rel = pd.read_csv(fixture_catalog / "relations.csv")
    by = pd.concat([tracks[["id", "artist_id"]].rename(columns={"id": "src", "artist_id": "dst"}),
                    rel[rel["type"] == "BY"][["src", "dst"]]]).dropna()
    return {"has": attrs.groupby("track_id")["aid"].agg(set).to_dict(), "tracks": list(tracks["id"]),
            "by": by.groupby("src")["dst"].agg(set).to_dict(), "rel": rel}


def test_attribute_rules_match_the_catalog(facts, raw):
    has = raw["has"]
    pairs = [("instrument:piano", "tempo:slow"), ("tempo:slow", "mode:major"), ("genre:baroque", "instrument:organ")]
    for a, b in pairs:
        want = {t for t in raw["tracks"] if a in has.get(t, set())}
        assert set(resolve(Rule(attributes=[a]), facts)) == want
        want_not = {t for t in want if b not in has.get(t, set())}
        got = resolve(Rule(attributes=[a], not_attributes=[b]), facts)
        assert set(got) == want_not and set(got.values()) <= {1.0}
        assert want_not < want  # the negation removed something, so the check is meaningful


def test_graded_any_attributes(facts, raw):
    anyof = ["mood:melancholic", "tempo:slow", "instrument:piano"]
    got = resolve(Rule(any_attributes=anyof, graded=True), facts)
    want = {t: float(len(raw["has"].get(t, set()) & set(anyof))) for t in raw["tracks"]}
    assert got == {t: g for t, g in want.items() if g >= 1}
    two = resolve(Rule(any_attributes=anyof, min_match=2), facts)
    assert set(two) == {t for t, g in want.items() if g >= 2} and max(got.values()) > 1


def test_work_and_artist_rules(facts, raw):
    versions = raw["rel"][raw["rel"]["type"] == "VERSION_OF"]
    for src, dst in zip(versions["src"], versions["dst"]):
        assert set(resolve(Rule(same_work_as=dst), facts)) == {src}
        assert set(resolve(Rule(same_work_as=src), facts)) == {dst}
    by = raw["by"]
    for artist in ("bach", "dvorak", "lind-quartet"):
        assert set(resolve(Rule(artist=artist), facts)) == {t for t, a in by.items() if artist in a}
    peers = {t for t, a in by.items() if a & by["t11"]} - {"t11"}
    assert set(resolve(Rule(same_artist_as="t11"), facts)) == peers
    slow_not_dvorak = {t for t in raw["tracks"] if "tempo:slow" in raw["has"].get(t, set()) and "dvorak" not in by.get(t, set())}
    assert set(resolve(Rule(attributes=["tempo:slow"], exclude_artist="Antonín Dvořák"), facts)) == slow_not_dvorak
    # names resolve case-insensitively; a pool restricts
    assert resolve(Rule(artist="BACH"), facts, pool=["t01", "t04"]) == {"t01": 1.0}


def test_unknown_names_raise_with_close_matches(facts):
    with pytest.raises(UnknownEntityError) as err:
        resolve(Rule(attributes=["instrument:violn"]), facts)
    assert "instrument:violin" in str(err.value)
    with pytest.raises(UnknownEntityError):
        resolve(Rule(same_work_as="t99"), facts)
    with pytest.raises(UnknownEntityError):
        resolve(Rule(artist="nobody at all"), facts)
    with pytest.raises(ValueError, match="kind:value"):
        resolve(Rule(attributes=["violin"]), facts)  # an attribute without its kind


def test_training_vocabulary_flags_seen_words(loaded_embedded_store):
    from kgjemb.eval.generate import training_vocabulary, unseen_ok
    from kgjemb.train.views import caption, track_facts

    export = loaded_embedded_store.export()
    vocab = training_vocabulary(export)
    first = next(f for f in track_facts(export) if f.attributes)
    seen_word = caption(list(first.attributes)).split()[-1].lower()
    assert not unseen_ok(f"something {seen_word}", vocab)
    assert not unseen_ok("melancholic piano", vocab)  # attribute names are training words
    assert unseen_ok("lugubrious pianoforte", vocab)
    assert not unseen_ok("music", vocab)  # nothing descriptive at all


def test_artist_names_use_the_graph_name_normaliser(facts):
    """Case, accents and spacing do not matter, as in the graph's own name look-up."""
    want = resolve(Rule(artist="dvorak"), facts)
    assert want
    for spelling in ("Antonín Dvořák", "antonin   dvorak", "ANTONIN DVORAK"):
        assert resolve(Rule(artist=spelling), facts) == want
