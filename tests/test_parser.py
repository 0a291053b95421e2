"""Query parser: tables of queries with expected parses, on the real spaCy model.

Two graphs: a small hand-made export (tests/parser_graph.py, cases in
tests/data/parser_cases.jsonl) and the curator fixture catalog graph/fixtures/example
(cases in tests/data/parser_cases_fixture.jsonl). One query per line, with the fields it
pins down:
``intents`` (as a set), ``like`` (linked similarity anchors, in order), ``filters``
(``[kind, node_id or value]``, as a set), ``phrases`` / ``negations`` / ``unknown``
(exact lists), ``attributes`` (positive attribute markers, as a set), ``how``
(node id → exact/alias/fuzzy) and ``candidates`` (``Label:id`` that must be listed as
alternatives of the first entity; ``[]``: none may be).
"""
from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
import spacy

from kgjemb.errors import QueryError
from kgjemb.query.parse import Gazetteer
from kgjemb.graph.names import match_key as normalise, short_titles
from kgjemb.query.parse import ParserConfig, QueryParser
from kgjemb.query.parse.lexicon import find_time_filters
from kgjemb.query.types import ParsedQuery
from tests.parser_graph import make_export

DATA = Path(__file__).parent / "data"


def _cases(name: str) -> list[dict]:
    return [json.loads(line) for line in (DATA / name).read_text().splitlines() if line.strip()]


CASES = _cases("parser_cases.jsonl")  # on the hand-made graph of tests/parser_graph.py
FIXTURE_CASES = _cases("parser_cases_fixture.jsonl")  # on graph/fixtures/example


@pytest.fixture(scope="module")
def parser() -> QueryParser:
    return QueryParser.from_export(make_export())


@pytest.fixture(scope="module")
def fixture_export(fixture_catalog, tmp_path_factory):
    """graph/fixtures/example through the real path: validate → rows → embedded store → export."""
    from kgjemb.catalog import catalog_to_rows, validate_catalog
    from kgjemb.graph.embedded import EmbeddedGraphStore

    catalog, report = validate_catalog(fixture_catalog)
    assert report.valid, report.errors
    store = EmbeddedGraphStore(tmp_path_factory.mktemp("parser-graph"))
    try:
        store.upsert(catalog_to_rows(catalog), progress=False)
        return store.export()
    finally:
        store.close()


@pytest.fixture(scope="module")
def fixture_parser(parser, fixture_export) -> QueryParser:
    return QueryParser.from_export(fixture_export, nlp=parser.nlp)


def _filter_key(f) -> tuple[str, str]:
    return (f.kind, f.node_id if f.kind not in ("era", "year_range") else f.value)


def test_table_has_enough_cases():
    assert len(CASES) >= 40 and len(FIXTURE_CASES) >= 10
    assert len({c["q"] for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c["q"][:40] for c in CASES])
def test_case(parser, case):
    check_case(parser, case)


@pytest.mark.parametrize("case", FIXTURE_CASES, ids=[c["q"][:40] for c in FIXTURE_CASES])
def test_fixture_catalog_case(fixture_parser, case):
    check_case(fixture_parser, case)


def check_case(parser: QueryParser, case: dict) -> None:
    p = parser.parse(case["q"])
    like = [e.id for e in p.entities if e.role == "like" and e.label not in (None, "Attribute")]
    got = {
        "intents": sorted(p.intents),
        "like": like,
        "filters": sorted(_filter_key(f) for f in p.filters),
        "phrases": p.phrases,
        "negations": p.negations,
        "unknown": p.unknown,
        "attributes": sorted(e.id for e in p.entities if e.label == "Attribute" and e.role == "like"),
    }
    want = {
        "intents": sorted(case.get("intents", got["intents"])),
        "like": case.get("like", got["like"]),
        "filters": sorted(tuple(f) for f in case.get("filters", got["filters"])),
        "phrases": case.get("phrases", got["phrases"]),
        "negations": case.get("negations", got["negations"]),
        "unknown": case.get("unknown", got["unknown"]),
        "attributes": sorted(case.get("attributes", got["attributes"])),
    }
    assert got == want, p.model_dump_json(indent=1)
    for node_id, how in case.get("how", {}).items():
        assert [e.how for e in p.entities if e.id == node_id] == [how]
    if "candidates" in case:
        listed = [c.split(" ", 1)[0] for c in p.entities[0].candidates]
        assert all(c in listed for c in case["candidates"]), p.entities[0]
        assert case["candidates"] or not listed, p.entities[0]


def test_unknown_mention_lists_closest_names(parser):
    p = parser.parse("songs like Zzyzx Qwerty, fast")
    assert p.unknown == ["Zzyzx Qwerty"] and p.phrases == ["fast"]
    ref = [e for e in p.entities if e.id is None][0]
    names = {n.name for n in parser.gazetteer.nodes.values()}
    assert ref.how == "none" and ref.candidates and set(ref.candidates) <= names
    # a misspelling close enough is linked rather than reported unknown
    p = parser.parse("songs like Moonlite Sonatta")
    assert p.unknown == [] and [e.id for e in p.entities] == ["t_moonlight"]


def test_every_linked_entity_is_a_real_node(parser):
    export = make_export()
    ids = {lb: set(export.nodes[lb]["id"]) for lb in export.nodes}
    for case in CASES:
        for e in parser.parse(case["q"]).entities:
            if e.id is not None:
                assert e.id in ids[e.label], (case["q"], e)
                assert 0 < e.score <= 100


@pytest.mark.parametrize("query", ["", "   ", "\n\t"])
def test_empty_query_is_rejected(parser, query):
    with pytest.raises(QueryError, match="query is empty"):
        parser.parse(query)


def test_overlong_query_names_the_limit(parser):
    with pytest.raises(QueryError, match="1000"):
        parser.parse("piano " * 200)
    small = QueryParser(parser.gazetteer, nlp=parser.nlp, config=ParserConfig(max_chars=20))
    with pytest.raises(QueryError, match="20"):
        small.parse("melancholic piano without vocals")
    assert small.parse("melancholic piano").phrases == ["melancholic piano"]


def test_parse_batch_equals_parse(parser):
    queries = [c["q"] for c in CASES]
    batch = parser.parse_batch(queries)
    assert [b.model_dump() for b in batch] == [parser.parse(q).model_dump() for q in queries]
    with pytest.raises(QueryError, match=r"queries\[1\]: query is empty"):
        parser.parse_batch(["ok", ""])
    with pytest.raises(QueryError, match="list"):
        parser.parse_batch("songs like Bach")


def test_concurrent_parses_agree(parser):
    queries = [c["q"] for c in CASES[::2]]
    expected = [parser.parse(q).model_dump() for q in queries]
    results: dict[int, list] = {}

    def work(k: int) -> None:
        results[k] = [parser.parse(q).model_dump() for q in queries]

    threads = [threading.Thread(target=work, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(results[k] == expected for k in range(3))


def test_blank_pipeline_works_without_statistical_model():
    nlp = spacy.blank("en")
    p = QueryParser.from_export(make_export(), nlp=nlp)
    out = p.parse("songs like Jesu, meine Freude but on strings, not slow")
    assert isinstance(out, ParsedQuery)
    assert [e.id for e in out.entities if e.role == "like" and e.label == "Track"] == ["t_jesu"]
    assert out.phrases == ["on strings"] and out.negations == ["slow"]
    # without POS tags a negation stops at "and"; the tagger lets it carry over nouns
    assert p.parse("without drums and vocals").negations == ["drums"]
    assert p.parse("without drums and vocals").phrases == ["vocals"]


def test_span_ids_carry_graph_nodes(parser):
    spans = parser._phrases.spans(parser.nlp("like J. S. Bach or Haydn"))
    ids = {s.id_ for s in spans}
    assert {"Artist:bach", "Artist:haydn"} <= ids


def test_phrase_table_finds_what_a_span_ruler_finds(parser):
    """The look-up table against spaCy's own SpanRuler (PhraseMatcher on LOWER, every
    overlapping match kept), the reference it replaces: same spans, labels, ids and order
    on every table query and on every name said in a sentence."""
    from spacy.pipeline import SpanRuler

    ruler = SpanRuler(parser.nlp, spans_key="kg", spans_filter=None, annotate_ents=False,
                      phrase_matcher_attr="LOWER", overwrite=True)
    ruler.add_patterns(parser.gazetteer.patterns())
    names = sorted({p["pattern"] for p in parser.gazetteer.patterns()})
    texts = [c["q"] for c in CASES] + [f"songs like {n}, not {n.upper()} and {n.lower()}" for n in names]
    assert len(texts) > 100
    for text in texts:
        doc = parser.nlp(text)
        ruled = ruler(parser.nlp(text))
        expected = [(s.start, s.end, s.label_, s.id_) for s in ruled.spans["kg"]]
        assert [(s.start, s.end, s.label_, s.id_) for s in parser._phrases.spans(doc)] == expected, text


def test_loaded_pipeline_tokenises_and_tags_like_spacy_load(parser):
    """load_nlp starts spacy.load from an empty tokenizer (the pipeline's own rules replace
    it); the result must split and tag exactly as a plain spacy.load of the same pipeline."""
    reference = spacy.load(parser.config.model, exclude=list(parser.config.exclude))
    texts = [c["q"] for c in CASES] + ["don't stop-me now, it's Mr. O'Neill's 1850s reel (No. 3) at 3:30pm e.g. "
                                       "http://x.org :)", "Dr. Smith's U.S.A. can't “quoted” — dashes… 😀!"]
    for text in texts:
        got, want = parser.nlp(text), reference(text)
        assert [(t.text, t.pos_, t.tag_, t.is_stop) for t in got] == [(t.text, t.pos_, t.tag_, t.is_stop) for t in want]


def test_spacy_is_imported_without_its_command_line_package():
    """Importing the parser's spaCy leaves out spacy.cli (a one-shot search does not need
    its ~0.4 s); afterwards ``import spacy.cli`` loads the real package, and ``spacy.info``
    answers through it."""
    import subprocess
    import sys

    code = """
import json, sys
import kgjemb.query.parse.nlp
before = sorted(m for m in sys.modules if m.startswith("spacy.cli"))
import spacy, spacy.cli
about = spacy.info(markdown=False, silent=True)
print(json.dumps({"before": before, "real": hasattr(spacy.cli, "download") and hasattr(spacy.cli, "app"),
                  "version": about.get("spacy_version")}))
"""
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out == {"before": [], "real": True, "version": spacy.__version__}


def test_tagging_on_demand_parses_like_tagging_first(parser, fixture_parser):
    """The parser tokenises only and tags when a rule reads a part of speech; on every table
    query that gives the parse of a doc tagged up front (the slow reference), and queries
    without "and" never run the tagger."""
    for p, cases in ((parser, CASES), (fixture_parser, FIXTURE_CASES)):
        for text in [c["q"] for c in cases] + ["without drums and vocals", "no vocals and fast", "not slow and sad"]:
            tagged = p.nlp(text)
            tagged.spans["kg"] = p._phrases.spans(tagged)
            blocked = [(s.start_char, s.end_char) for s in tagged.spans["kg"] if s.label_ != "Attribute"]
            times = find_time_filters(text, eras=p._eras, era_ids=p._era_ids, blocked=blocked)
            assert p._reader.read(text, tagged, times) == p.parse(text), text
    runs = []
    counting = QueryParser(parser.gazetteer, nlp=parser.nlp)
    counting._tag = lambda doc: runs.append(doc.text) or QueryParser._tag(counting, doc)
    counting.parse("slow sad piano, no vocals, not by Bach")
    assert runs == []
    assert counting.parse("without drums and vocals").negations == ["drums", "vocals"]
    assert runs == ["without drums and vocals"]


def test_phrase_table_cache_round_trip(parser, tmp_path):
    """A cached table loads equal to a built one; changed names get a new entry; a corrupt
    entry is rebuilt, not an error."""
    from kgjemb.query.parse.nlp import tokenizer_key
    from kgjemb.query.parse.phrases import PhraseTable

    patterns = parser.gazetteer.patterns()
    key = tokenizer_key(parser.nlp)
    built = PhraseTable.load_or_build(patterns, parser.nlp.tokenizer, cache_dir=tmp_path, tokenizer_key=key)
    files = list((tmp_path / "parser").glob("phrases-*.json"))
    assert len(files) == 1
    loaded = PhraseTable.load_or_build(patterns, parser.nlp.tokenizer, cache_dir=tmp_path, tokenizer_key=key)
    assert loaded.entries == built.entries and loaded.max_len == built.max_len
    PhraseTable.load_or_build(patterns[1:], parser.nlp.tokenizer, cache_dir=tmp_path, tokenizer_key=key)
    assert len(list((tmp_path / "parser").glob("phrases-*.json"))) == 2
    files[0].write_text("{not json")
    again = PhraseTable.load_or_build(patterns, parser.nlp.tokenizer, cache_dir=tmp_path, tokenizer_key=key)
    assert again.entries == built.entries
    cached = QueryParser(parser.gazetteer, nlp=parser.nlp, cache_dir=tmp_path)
    assert cached.parse("songs like Haydn").entities[0].id == parser.parse("songs like Haydn").entities[0].id


def test_gazetteer_fuzzy_and_normalise():
    gaz = Gazetteer.from_export(make_export())
    assert normalise("Dvořák,  Antonín!") == "dvorak antonin"
    top = gaz.fuzzy("Bethoven")[0]
    assert (top.node.id, top.how) == ("beethoven", "fuzzy") and 80 <= top.score < 100
    assert gaz.fuzzy("Qwertyuiop") == []
    works = gaz.works_by(["oneill"])
    assert {"Track:t_morning", "Track:t_kesh", "Album:alb_oneill"} <= works


def test_empty_graph_parses_phrases_and_reports_unknown(parser):
    from kgjemb.graph.base import GraphExport

    empty = QueryParser.from_export(GraphExport.empty(), nlp=parser.nlp)
    p = empty.parse("songs like Ode To Joy, no vocals, from the 1720s")
    assert p.unknown == ["Ode To Joy"] and p.negations == ["vocals"]
    assert [(f.kind, f.value) for f in p.filters] == [("year_range", "1720-1729")]


@pytest.mark.parametrize("field, value", [("fuzzy_cutoff", 0), ("bare_fuzzy_cutoff", 101), ("max_chars", -1)])
def test_config_rejects_bad_values(field, value):
    with pytest.raises(ValueError, match=field):
        ParserConfig(**{field: value})


def test_every_name_links_back_to_a_node_with_that_name(parser):
    """Round trip over the whole graph: "songs like <name>" links a node of that name."""
    gaz = parser.gazetteer
    checked = 0
    for node in gaz.nodes.values():
        if node.label == "Attribute":
            continue
        for form in (node.name, *node.aliases):
            p = parser.parse(f"songs like {form}")
            like = [e for e in p.entities if e.role == "like" and e.id is not None]
            assert like, (form, p)
            linked = gaz.nodes[f"{like[0].label}:{like[0].id}"]
            assert normalise(form) in {normalise(n) for n in (linked.name, *linked.aliases)}, (form, linked)
            assert like[0].how in ("exact", "alias") and p.unknown == []
            checked += 1
    assert checked >= 30


def test_fuzzy_budget_bounds_work_but_keeps_exact_links(parser):
    """Past the per-query budget, misspellings stay unlinked while exact names still link."""
    tight = QueryParser(parser.gazetteer, nlp=parser.nlp, config=ParserConfig(max_fuzzy_lookups=1))
    p = tight.parse("like Zzyzx Qwerty, like Bethoven, like Haydn")
    assert [e.id for e in p.entities if e.id] == ["haydn"]
    full = parser.parse("like Zzyzx Qwerty, like Bethoven, like Haydn")
    assert [e.id for e in full.entities if e.id] == ["beethoven", "haydn"]


def test_fuzzy_length_window_matches_brute_force():
    """The length-bucketed scan returns exactly what a scan over every name returns."""
    from rapidfuzz import fuzz

    gaz = Gazetteer.from_export(make_export())
    probes = ["Bethoven", "Jesu meine Freude", "ode to jay", "Hadyn", "Air on the G Strng", "lark", "Tchaikovski",
              "the morning sta", "Silver Spears", "x", "Schiller Choirs"]
    for cutoff in (60.0, 80.0, 95.0):
        for probe in probes:
            got = {(ln.node.key, round(ln.score, 6)) for ln in gaz.fuzzy(probe, cutoff=cutoff, limit=100)}
            want = set()
            for form, owners in gaz.surfaces.items():
                score = fuzz.ratio(normalise(probe), form)
                if score >= cutoff:
                    want |= {(n.key, round(score, 6)) for n, _ in owners if n.label != "Attribute"}
            assert got == want, (probe, cutoff)


def test_demo_catalog_titles_and_short_titles_link_back(ci_catalog, parser, tmp_path):
    """On the real demo catalog (music21 works), every title and every short title
    ("Jesu, meine Freude" for "Jesu, meine Freude (BWV 358)") links a node that bears it."""
    from kgjemb.catalog import catalog_to_rows, validate_catalog
    from kgjemb.graph.embedded import EmbeddedGraphStore

    catalog, report = validate_catalog(ci_catalog, check_audio_files=False)
    assert report.valid, report.errors
    store = EmbeddedGraphStore(tmp_path / "graph")
    try:
        store.upsert(catalog_to_rows(catalog), progress=False)
        demo = QueryParser.from_export(store.export(), nlp=parser.nlp)
    finally:
        store.close()
    gaz = demo.gazetteer
    forms = {(f, node.label) for node in gaz.nodes.values() if node.label in ("Album", "Track") for f in (node.name, *node.aliases)}
    assert any(f != n.name for n in gaz.nodes.values() for f in n.aliases if n.label == "Track")  # short titles exist
    for form, label in sorted(forms):
        p = demo.parse(f"pieces like {form}, not too fast")
        like = [e for e in p.entities if e.role == "like" and e.id is not None]
        assert like and p.negations == ["fast"], (form, p.entities)
        node = gaz.nodes[f"{like[0].label}:{like[0].id}"]
        assert normalise(form) in {normalise(n) for n in (node.name, *node.aliases)}, (form, node)


@pytest.mark.parametrize(
    "title, short",
    [
        ("Jesu, meine Freude (BWV 358)", ["Jesu, meine Freude"]),
        ("Jesu, meine Freude, BWV 227", ["Jesu, meine Freude"]),
        ("Sanctus: Hosanna (Missa In semidupl. maj. (I))", ["Sanctus: Hosanna"]),
        ("String Quartet K. 458 'The Hunt': I", ["The Hunt"]),
        ("Chorale BWV 145.5", []),  # a form word and a number name no single work
        ("O'Neill's Music of Ireland (1850 tunes), 0101-0200", []),
        ("The Wild Geese", []),
    ],
)
def test_short_titles(title, short):
    assert short_titles(title) == short


def test_missing_spacy_model_says_how_to_install():
    from kgjemb.errors import MissingDependencyError
    from kgjemb.query.parse import load_nlp

    with pytest.raises(MissingDependencyError, match="pip install"):
        load_nlp("no_such_spacy_model_xyz")


def test_non_string_query_is_rejected(parser):
    with pytest.raises(QueryError, match="string"):
        parser.parse(None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "query, relation, node",
    [
        ("music influenced by Haydn", "influenced_by", "haydn"),
        ("composers that influenced Beethoven", "influenced", "beethoven"),
        ("artists similar to Handel", "similar_artists", "handel"),
        ("other versions of Ode to Joy", "versions", "t_ode"),
        ("something from the same album as Wachet auf", "same_album", "t_wachet"),
        ("songs by members of Schiller Choir", "members", "schiller_choir"),
    ],
)
def test_relation_queries(parser, query, relation, node):
    """Relation cues mark the linked entity; the engine asks the graph for the related nodes."""
    p = parser.parse(query)
    rel = [e for e in p.entities if e.relation]
    assert [(e.relation, e.id, e.role) for e in rel] == [(relation, node, "like")], p
    assert "relation" in p.intents
    assert p.phrases == [] and p.filters == []


def test_attributes_are_soft_unless_only(parser):
    soft = parser.parse("a chorale in D minor, no vocals")
    assert soft.filters == []
    marks = {(e.id, e.role) for e in soft.entities if e.label == "Attribute"}
    assert ("key:d minor", "like") in marks and ("vocal:vocals", "exclude") in marks
    hard = parser.parse("a chorale only in D minor")
    assert [(f.kind, f.node_id) for f in hard.filters] == [("attribute", "key:d minor")]


def test_strip_accents_is_nfkd_without_combining_marks():
    """The ASCII fast path gives what NFKD + dropping combining marks gives."""
    import unicodedata

    from kgjemb.graph.names import strip_accents

    def reference(text):
        return "".join(ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch))

    texts = [chr(c) for c in range(128)] + ["Dvořák", "Ⅳ. Allegro", "ﬁn", "Jesu, meine Freude", "Sibelius: Op. 26", ""]
    assert [strip_accents(t) for t in texts] == [reference(t) for t in texts]
    assert strip_accents("Dvořák") == "Dvorak" and strip_accents("ﬁn") == "fin"
