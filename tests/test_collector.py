"""The garbage collector around engines: paused while one is built, and after a service
loads a bundle, one collection (a replaced engine is freed) then everything alive frozen."""
from __future__ import annotations

import asyncio
import gc
import json
import threading
import weakref

from kgjemb.collector import collector_paused, settle
from kgjemb.serve.reload import EngineHolder


def test_collector_paused_nests_and_restores_the_state_it_found():
    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the outer block still builds
    assert gc.isenabled()
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()  # off before: stays off
    finally:
        gc.enable()
    inside = threading.Event()
    leave = threading.Event()

    def other():
        with collector_paused():
            inside.set()
            leave.wait(10)

    t = threading.Thread(target=other)
    t.start()
    inside.wait(10)
    with collector_paused():
        pass
    assert not gc.isenabled()  # another thread is still inside its block
    leave.set()
    t.join()
    assert gc.isenabled()


class _Engine:
    """Cyclic, like a real engine (its graph keeps walks that point back at it)."""

    def __init__(self) -> None:
        self.me = self


def test_a_load_frees_the_replaced_engine_and_freezes_the_live_one(tmp_path):
    (tmp_path / "manifest.json").write_text(json.dumps({"version": "1"}))
    made: list[weakref.ref] = []

    def loader(path):
        engine = _Engine()
        made.append(weakref.ref(engine))
        return engine

    holder = EngineHolder(loader)
    try:
        asyncio.run(holder.load(tmp_path))
        assert gc.get_freeze_count() > 0 and made[0]() is holder.current[0]
        asyncio.run(holder.load(tmp_path))
        assert made[0]() is None  # a cycle, frozen before: freed by the next load's collection
        assert made[1]() is holder.current[0]
    finally:
        gc.unfreeze()


def test_settle_reports_its_pause():
    try:
        assert settle() >= 0 and gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


def test_engine_open_settles_large_engines_only(bundle_dir, monkeypatch):
    """Engine.open freezes the engine out of later collections when asked (``settle=True``)
    or by default from SETTLE_FROM tracks on; the small CI bundle is left alone by default,
    and ``settle=False`` leaves any engine alone."""
    import kgjemb.query.engine as engine_module
    from kgjemb.query.engine import Engine

    gc.unfreeze()
    try:
        engine = Engine.open(bundle_dir)
        assert gc.get_freeze_count() == 0  # a few hundred tracks: below SETTLE_FROM
        reuse = {"parser": engine.parser, "model": engine.model}
        monkeypatch.setattr(engine_module, "SETTLE_FROM", len(engine.track_ids))
        Engine.open(bundle_dir, settle=False, **reuse)
        assert gc.get_freeze_count() == 0
        engine = Engine.open(bundle_dir, **reuse)
        assert gc.get_freeze_count() > 0 and gc.is_tracked(engine.track_ids)
    finally:
        gc.unfreeze()
