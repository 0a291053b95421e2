"""The real-recordings catalog builder, end to end on a tiny Debian package built here
(dpkg-deb), so no download: music folders only, jingles and effects left out, credits and
licences as the package states them, a valid catalog, a cached no-op re-run."""
import csv
import subprocess

import numpy as np
import pytest
import soundfile as sf

from kgjemb.catalog.validate import validate_catalog
from kgjemb.demo.real import RealConfig, build_real_catalog


COPYRIGHT = """Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/

Files: *
Copyright: 2005-2020 X-Moto Development Team
License: GPL-2+

Files: Textures/Musics/untagged.ogg
Copyright: 2011 Ada Composer
License: CC-BY-SA-3.0
"""


def _ogg(path, seconds, tags=None):
    import mutagen.oggvorbis

    sr = 8000
    t = np.arange(int(sr * seconds)) / sr
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, (0.2 * np.sin(2 * np.pi * 330 * t)).astype(np.float32), sr, format="OGG", subtype="VORBIS")
    if tags:
        f = mutagen.oggvorbis.OggVorbis(path)
        for k, v in tags.items():
            f[k] = v
        f.save()


def _package_root(root, name, version, copyright):
    """The tree of a Debian package ``name`` holding only its control and copyright files."""
    (root / "DEBIAN").mkdir(parents=True)
    (root / "DEBIAN" / "control").write_text(f"Package: {name}\nVersion: {version}\nArchitecture: all\n"
                                            "Maintainer: t <t@example.org>\nDescription: test\n")
    doc = root / "usr/share/doc" / name
    doc.mkdir(parents=True)
    (doc / "copyright").write_text(copyright)
    return root


@pytest.fixture(scope="module")
def fake_deb(tmp_path_factory):
    root = _package_root(tmp_path_factory.mktemp("pkg") / "root", "xmoto-data", "0.0-test", COPYRIGHT)
    game = root / "usr/share/games/xmoto"
    _ogg(game / "Textures/Musics/tagged.ogg", 32, {"artist": "Jens Erler", "title": "Ride-A-Long", "genre": "Soundtrack",
                                                  "date": "2007"})
    _ogg(game / "Textures/Musics/untagged.ogg", 31)
    _ogg(game / "Textures/Musics/jingle.ogg", 4, {"artist": "Jens Erler"})  # too short: a jingle
    _ogg(game / "Sounds/engine.ogg", 33)  # a sound effect: not under a music folder
    (game / "Textures/Musics/theme.mid").write_bytes(b"MThd")  # MIDI is not recorded music
    cache = tmp_path_factory.mktemp("cache")
    (cache / "debs").mkdir()
    deb = cache / "debs" / "xmoto-data_0.0-test_all.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", "--build", str(root), str(deb)], check=True, capture_output=True)
    return cache, root


def _rows(path):
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def test_real_catalog_from_a_package(fake_deb, tmp_path):
    cache, root = fake_deb
    cfg = RealConfig(packages=("xmoto-data",), cache_dir=str(cache), progress=False)
    out = tmp_path / "real"
    manifest = build_real_catalog(out, cfg)
    tracks = {r["id"]: r for r in _rows(out / "tracks.csv")}
    assert sorted(tracks) == ["x-moto-tagged", "x-moto-untagged"]
    assert manifest["counts"]["tracks"] == 2 and manifest["versions"] == {"xmoto-data": "0.0-test"}
    artists = {r["id"]: r["name"] for r in _rows(out / "artists.csv")}
    assert tracks["x-moto-tagged"]["artist_id"] == "jens-erler" and artists["jens-erler"] == "Jens Erler"
    assert tracks["x-moto-tagged"]["title"] == "Ride-A-Long" and tracks["x-moto-tagged"]["year"] == "2007"
    # no tag: the copyright holder of the stanza naming this very file
    assert artists[tracks["x-moto-untagged"]["artist_id"]] == "Ada Composer"
    assert {r["album_id"] for r in tracks.values()} == {"x-moto-soundtrack"}
    attrs = {(r["track_id"], r["kind"]): r["value"] for r in _rows(out / "track_attributes.csv")}
    assert attrs[("x-moto-tagged", "licence")] == "GPL-2+"
    assert attrs[("x-moto-untagged", "licence")] == "CC-BY-SA-3.0"
    assert attrs[("x-moto-tagged", "genre")] == "soundtrack" and ("x-moto-untagged", "genre") not in attrs
    # audio copied byte for byte inside the catalog
    src = root / "usr/share/games/xmoto/Textures/Musics/tagged.ogg"
    assert (out / tracks["x-moto-tagged"]["audio_path"]).read_bytes() == src.read_bytes()
    _, report = validate_catalog(out)
    assert report.valid, report
    assert "CC-BY-SA-3.0" in (out / "README.md").read_text()
    # a re-run with the same arguments is a no-op (the READY build is kept)
    stamp = (out / "READY").stat().st_mtime_ns
    assert build_real_catalog(out, cfg) == manifest and (out / "READY").stat().st_mtime_ns == stamp
    # the unpacked cache kept only music folders and the copyright file
    unpacked = [p.relative_to(cache / "unpacked").as_posix() for p in (cache / "unpacked").rglob("*") if p.is_file()]
    assert not any("Sounds/" in p or p.endswith("control") for p in unpacked), unpacked


def test_unknown_package_lists_the_choices(tmp_path):
    with pytest.raises(ValueError, match="choose from"):
        build_real_catalog(tmp_path / "x", RealConfig(packages=("no-such-data",)))


ETR_COPYRIGHT = """Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/

Files: *
Copyright: 2010 ETR Team
License: GPL-2+

Files: data/music/special.ogg
Copyright: 2012 Ben Composer
License: CC-BY-SA-3.0
"""


def test_unlabelled_music_from_a_package(tmp_path):
    """The unlabelled folder: music folders only, one folder per package, every file's licence
    from the DEP-5 stanza covering its source path (a tail of the installed path), the
    copyright file kept beside it, a no-op re-run; the catalog's own packages are refused."""
    from kgjemb.audio.io import audio_files
    from kgjemb.demo.real_unlabelled import build_unlabelled

    root = _package_root(tmp_path / "root", "extremetuxracer-data", "0.1-test", ETR_COPYRIGHT)
    game = root / "usr/share/games/etr/data"
    _ogg(game / "music/race.ogg", 32)
    _ogg(game / "music/special.ogg", 31)
    _ogg(game / "music/jingle.ogg", 4)  # too short
    _ogg(game / "sounds/wind.ogg", 33)  # not under a music folder
    cache = tmp_path / "cache"
    (cache / "debs").mkdir(parents=True)
    deb = cache / "debs" / "extremetuxracer-data_0.1-test_all.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", "--build", str(root), str(deb)], check=True, capture_output=True)
    out = tmp_path / "unl"
    manifest = build_unlabelled(out, ["extremetuxracer-data"], cache_dir=cache)
    rows = {r["file"]: r for r in _rows(out / "sources.csv")}
    assert sorted(rows) == ["extremetuxracer-data/race.ogg", "extremetuxracer-data/special.ogg"]
    assert rows["extremetuxracer-data/special.ogg"]["licence"] == "CC-BY-SA-3.0"
    assert rows["extremetuxracer-data/special.ogg"]["licence_stanza"] == "data/music/special.ogg"
    assert rows["extremetuxracer-data/race.ogg"]["licence"] == "GPL-2+"  # the catch-all stanza
    assert manifest["counts"]["recordings"] == 2 and manifest["versions"] == {"extremetuxracer-data": "0.1-test"}
    assert (out / "extremetuxracer-data" / "copyright").read_text() == ETR_COPYRIGHT
    assert (out / "extremetuxracer-data/race.ogg").read_bytes() == (game / "music/race.ogg").read_bytes()
    assert sorted(p.name for p in audio_files(out)) == ["race.ogg", "special.ogg"]  # what --unlabelled reads
    assert "CC-BY-SA-3.0" in (out / "README.md").read_text()
    stamp = (out / "READY").stat().st_mtime_ns
    assert build_unlabelled(out, ["extremetuxracer-data"], cache_dir=cache) == manifest
    assert (out / "READY").stat().st_mtime_ns == stamp
    with pytest.raises(ValueError, match="leak its held-out albums"):
        build_unlabelled(tmp_path / "x", ["xmoto-data"], cache_dir=cache)
