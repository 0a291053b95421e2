"""The demo catalog: music21 public-domain scores rendered to audio with fluidsynth.

>>> from kgjemb.demo import BuildConfig, build_catalog
>>> manifest = build_catalog("data/dev-catalog", BuildConfig(limit=6, seconds=10))  # doctest: +SKIP

Modules: ``sources`` (curated collections, composers, licences), ``corpus`` (work
discovery, tune by tune), ``titles`` (readable titles, albums, years), ``analyse`` (key,
mode, meter, texture), ``arrange`` (seeded GM instrument sets and tempo per form),
``midi`` + ``fluid`` + ``render`` (excerpt MIDI → libfluidsynth in-process → cached FLAC), ``renditions`` (one
work end to end), ``relations`` + ``similar`` (curated and derived artist relations),
``tables`` + ``builder`` (catalog tables, manifest, READY).
"""
from kgjemb.demo.builder import BuildConfig, build_catalog, code_version, is_complete, read_renditions

__all__ = ["BuildConfig", "build_catalog", "code_version", "is_complete", "read_renditions"]
