"""Text views: subset sizes, captions, dropout, swap negatives really absent."""
import numpy as np
import pytest

from kgjemb.train.views import SOUND_KINDS, TextViews, ViewConfig, caption, tag_line, track_facts


@pytest.fixture(scope="module")
def views(train_example_export):
    return TextViews(track_facts(train_example_export), ViewConfig())


def test_facts_align_with_tracks_and_edges(train_example_export, views):
    ex = train_example_export
    assert [f.track_id for f in views.facts] == list(ex.nodes["Track"]["id"])
    has = ex.edges[("Track", "HAS", "Attribute")]
    attrs = ex.nodes["Attribute"].set_index("id")
    for f in views.facts:
        expected = {(attrs.loc[d, "kind"], attrs.loc[d, "name"]) for d in has.loc[has["src"] == f.track_id, "dst"]}
        assert set(f.attributes) == expected
        assert f.artists, f.track_id  # every track has a primary artist


def test_subset_sizes_cover_1_to_L(views):
    rng = np.random.default_rng(0)
    for i, f in enumerate(views.facts):
        sound = [a for a in f.attributes if a[0] in SOUND_KINDS]
        top = min(len(sound), views.config.max_attributes)
        sizes = {len(views.subset(i, rng)) for _ in range(200)}
        assert sizes == set(range(1, top + 1)), (f.track_id, sizes, top)
        for _ in range(20):
            assert set(views.subset(i, rng)) <= set(f.attributes)


def test_caption_templates():
    assert caption([("tempo", "fast"), ("form", "reel"), ("key", "D major"), ("instrument", "fiddle"),
                    ("instrument", "flute")]) == "a fast reel in D major on fiddle and flute"
    assert caption([("tempo", "slow"), ("form", "chorale"), ("ensemble", "organ")]) == "a slow chorale for organ"
    assert tag_line([("instrument", "Violin"), ("tempo", "fast"), ("key", "D minor")]) == "violin, fast, d minor"
    # key already names the mode: no "(minor)" repeated
    assert "(minor)" not in caption([("key", "E minor"), ("mode", "minor")])


def test_views_mention_only_true_attributes(views):
    rng = np.random.default_rng(1)
    for i, f in enumerate(views.facts):
        for _ in range(30):
            text = views.sample(i, rng).lower()
            assert text
            values = [v.lower() for _, v in f.attributes]
            meta = [n.lower() for n in f.artists] + [f.title.lower(), (f.album or "").lower()]
            assert any(v in text for v in values) or any(m and m in text for m in meta), (f.track_id, text)


def test_swap_negatives_are_absent_and_same_kind(views):
    rng = np.random.default_rng(2)
    swapped_any = 0
    for i, f in enumerate(views.facts):
        own = {(k, v.lower()) for k, v in f.attributes}
        for _ in range(30):
            attrs = views.subset(i, rng)
            out = views.swap(i, attrs, rng)
            if out is None:
                continue
            swapped_any += 1
            diff = [(a, b) for a, b in zip(attrs, out) if a != b]
            assert len(diff) == 1
            (old, new), = diff
            assert old[0] == new[0]  # same kind
            assert (new[0], new[1].lower()) not in own  # the track does NOT have it
    assert swapped_any > 100


def test_positive_and_negative_differ(views):
    rng = np.random.default_rng(3)
    pairs = [views.sample_with_negative(i % len(views.facts), rng) for i in range(200)]
    with_neg = [(p, n) for p, n in pairs if n is not None]
    assert len(with_neg) > 150
    assert all(p != n for p, n in with_neg)


def test_seeded(views):
    a = [views.sample(i % 14, np.random.default_rng(7)) for i in range(14)]
    b = [views.sample(i % 14, np.random.default_rng(7)) for i in range(14)]
    assert a == b


def test_bad_config():
    with pytest.raises(ValueError, match="word_dropout"):
        ViewConfig(word_dropout=1.5)
    with pytest.raises(ValueError, match="style"):
        TextViews([], ViewConfig()).render([("tempo", "fast")], "poem", np.random.default_rng(0))
