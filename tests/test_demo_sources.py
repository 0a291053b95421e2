"""The demo catalog's curated sources: collections, composers, titles, forms, relations.

None of these render audio: they check the tables the builder reads (and the work lists
that discovery returns) so that a default build is known to credit enough artists, with
licences and real titles, before anything is rendered.
"""
from __future__ import annotations

import csv
import re
from importlib import resources

import pytest

from kgjemb.catalog.schema import RELATION_ENDPOINTS
from kgjemb.demo.analyse import _title_key
from kgjemb.demo.arrange import _FORM_SET, arrange, ensemble_of
from kgjemb.demo.corpus import ONEILLS_SECTIONS, _abc_tunes, _form_from_text, _norm_form, corpus_root, discover
from kgjemb.demo.relations import curated_relations
from kgjemb.demo.sources import COLLECTIONS, COMPOSERS, DEFAULT_COLLECTIONS, resolve_collection
from kgjemb.demo.titles import MONTEVERDI_INCIPITS

NEW_COLLECTIONS = ("cpebach", "schubert", "schumann_clara", "weber", "ciconia", "luca", "lusitano", "liliuokalani",
                   "beach", "johnson_j_r", "airdsAirs")
ERAS = {"Medieval", "Renaissance", "Baroque", "Classical", "Romantic", "early 20th c.", "traditional"}


def _relations_rows() -> list[dict]:
    text = resources.files("kgjemb.demo").joinpath("data/relations.csv").read_text(encoding="utf-8")
    return list(csv.DictReader(text.splitlines()))


def test_default_build_credits_at_least_22_artists_with_licences():
    colls = [resolve_collection(c) for c in DEFAULT_COLLECTIONS]
    artists = {c.artist_id for c in colls}
    assert len(artists) >= 22
    assert set(NEW_COLLECTIONS) <= {c.key for c in colls}
    for c in colls:
        assert c.commercial, c.key
        assert c.licence.strip() and c.licence_note.strip(), c.key
        assert "non-commercial" not in c.licence.lower(), c.key
        comp = COMPOSERS[c.artist_id]  # every default artist has a curated row
        assert comp.name.strip()
        assert comp.era is None or comp.era in ERAS, (comp.id, comp.era)
        assert comp.born is None or comp.died is None or comp.born < comp.died
    # doubtful or restricted encodings stay out
    assert not {"essenFolksong", "verdi", "schoenberg", "webern"} & set(DEFAULT_COLLECTIONS)


@pytest.mark.parametrize("key", NEW_COLLECTIONS)
def test_new_collections_discover_works_with_real_titles_and_forms(key):
    works = discover(key)
    assert works
    for w in works:
        assert w.title.strip() and w.album_title.strip(), w
        assert not re.search(r"\.(mxl|xml|musicxml|abc)$", w.title), w  # not a file name
    if key != "airdsAirs":  # one-work folders: every work has a curated title and form
        assert all(w.form_hint for w in works), [w.work_id for w in works if not w.form_hint]
        assert all(w.form_hint in _FORM_SET for w in works)


def test_clara_schumann_and_weber_titles_come_from_the_scores():
    titles = {w.work_id: (w.title, w.album_title, w.form_hint) for w in discover("schumann_clara")}
    assert titles["schumann-clara-polonaise-op1n1"] == ("Polonaise in E-flat major, Op. 1 No. 1",
                                                        "Four Polonaises, Op. 1", "polonaise")
    assert titles["schumann-clara-opus17-movement3"][2] == "piano trio"
    (weber,) = discover("weber")
    assert weber.form_hint == "concertino" and "Op. 26" in weber.title
    (lied,) = discover("schubert")
    assert (lied.title, lied.album_title, lied.form_hint) == ("Der Lindenbaum", "Winterreise, D. 911", "lied")


def test_title_key_is_used_only_for_one_movement_titles():
    assert _title_key("Polonaise in E-flat major, Op. 1 No. 1") == ("Eb major", "major")
    assert _title_key("Polonaise in C major, Op. 1 No. 4") == ("C major", "major")
    assert _title_key("Sonata in A major, Wq. 55/4: II. Poco adagio") is None
    assert _title_key("The Boys in a major hurry") is None


def test_transposing_instruments_are_read_at_sounding_pitch():
    from kgjemb.demo.corpus import load_score

    (weber,) = discover("weber")
    score = load_score(weber)
    clarinet = score.parts[0]
    assert "Clarinet" in str(clarinet.partName)
    first = clarinet.flatten().notes[0].pitches[0]
    assert first.nameWithOctave == "A-5"  # written B-flat for the B-flat clarinet sounds A-flat


def test_airds_airs_tunes_are_one_work_each_with_forms_from_title_words():
    works = discover("airdsAirs", limit=0)
    assert len(works) > 1000 and len({w.work_id for w in works}) == len(works)
    assert {w.album_title for w in works} >= {"Aird's Selection of Scotch, English, Irish and Foreign Airs, Vol. 1"}
    assert all(w.tempo_hint is None for w in works)  # N: lines there are editorial notes
    forms = {w.form_hint for w in works}
    assert {"march", "reel", "strathspey", "jig", "minuet"} <= forms
    quick = [w for w in works if re.search(r"quick ?step", w.title, re.I)]
    assert quick and all(w.form_hint == "march" for w in quick)


def test_form_words_match_whole_words_only():
    assert _form_from_text("Fishing for Eels") is None
    assert _form_from_text("The Three Little Drummers") is None
    assert _form_from_text("Favorite", "FavoriteHornpipe") == "hornpipe"
    assert _form_from_text("Quick Step. 25th Regt") == "march"
    assert _form_from_text("Lady Shaftsbury's Strathsy") == "strathspey"
    assert _form_from_text("La Royal Loverie Gavot") == "gavotte"
    assert _form_from_text("A Spanish Jigg") == "jig"
    assert _form_from_text("Planxty Miss Burke") == "planxty"
    assert _norm_form("Slide") == "slide" and _norm_form("Double Jig") == "jig"


def test_oneills_sections_agree_with_every_stated_rhythm():
    """The section rule fills only missing R: fields; every R: the transcribers did give
    inside a section names that section's form (the one slide excepted)."""
    stated = {}
    for p in sorted((corpus_root() / "oneills1850").glob("*.abc")):
        for t in _abc_tunes(p.read_text(encoding="latin-1")):
            if (t.get("R") or "").strip():
                stated.setdefault(int(t["X"]), set()).add(_norm_form(t["R"]))
    for lo, hi, form in ONEILLS_SECTIONS:
        inside = {x: f for x, f in stated.items() if lo <= x <= hi}
        assert len(inside) > 20, (lo, hi)
        disagree = {x: f for x, f in inside.items() if f != {form}}
        assert set(map(frozenset, disagree.values())) <= {frozenset({"slide"})}, disagree
    works = discover("oneills1850", limit=0)
    in_sections = [w for w in works if w.number and any(lo <= w.number <= hi for lo, hi, _ in ONEILLS_SECTIONS)]
    assert in_sections and all(w.form_hint for w in in_sections)


def test_monteverdi_titles_are_incipits():
    works = discover("monteverdi")
    placeholders = [w.work_id for w in works if w.title.startswith("Madrigal ")]
    assert placeholders == ["monteverdi-madrigal.3.14"]  # its encoding has no text
    assert len(MONTEVERDI_INCIPITS) == len(works) - 1
    titles = {w.work_id: w.title for w in works}
    assert titles["monteverdi-madrigal.3.1"] == "La giovinetta pianta"
    assert titles["monteverdi-madrigal.5.1"] == "Cruda Amarilli"


def test_curated_relations_name_known_artists_and_a_source():
    rows = _relations_rows()
    assert rows
    for r in rows:
        assert r["src"] in COMPOSERS and r["dst"] in COMPOSERS and r["src"] != r["dst"], r
        assert RELATION_ENDPOINTS.get(r["type"]) == ("Artist", "Artist"), r
        assert r["source"].strip() and r["note"].strip(), r
    keys = [(r["src"], r["type"], r["dst"]) for r in rows]
    assert len(keys) == len(set(keys))
    # documented relations of the new artists come out in a default build
    default_artists = {resolve_collection(c).artist_id for c in DEFAULT_COLLECTIONS}
    got = {(r["src"], r["type"], r["dst"]) for r in curated_relations(default_artists)}
    assert ("schumann-robert", "INFLUENCED_BY", "schumann-clara") in got
    assert ("cpebach", "INFLUENCED_BY", "bach") in got and ("haydn", "INFLUENCED_BY", "cpebach") in got


def test_new_forms_have_arrangements_that_fit_their_scores():
    trio = arrange("t", form="piano trio", n_parts=4, beat_ql=1.5, seed=0, renditions=3)
    assert {ensemble_of(a.programs) for a in trio} == {"trio"}
    choir = arrange("c", form="part-song", n_parts=6, beat_ql=1.0, seed=0, renditions=3)
    assert ensemble_of(choir[0].programs) in {"choir", "ensemble"}
    assert ensemble_of((46, 46)) == "solo" and ensemble_of((52, 52, 0, 0)) == "choir"
    for form in ("polonaise", "concertino", "song", "canon", "planxty", "slide", "minuet", "gavotte"):
        assert _FORM_SET[form]
        assert arrange("x", form=form, n_parts=2, beat_ql=1.0, seed=0)[0].programs


def test_collections_not_in_the_default_say_why():
    assert not COLLECTIONS["essenFolksong"].commercial
    assert "default" in COLLECTIONS["verdi"].licence_note
