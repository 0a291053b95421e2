"""libfluidsynth in-process: one loaded soundfont per process, MIDI bytes → stereo float frames.

The ``fluidsynth`` command line loads the 148 MB FluidR3 soundfont on every call (~0.5 s
of a ~0.8 s render of a 20 s excerpt). :class:`FluidSynth` binds the same library the
command line runs (Debian ``libfluidsynth3``, C API 2.x, through :mod:`ctypes`; no Python
package needed), loads the soundfont once and renders each MIDI file with the library's
own MIDI player, timed by samples, as ``fluidsynth -F`` does, in the same 64-frame
blocks: the same number of frames as the command line's WAV, and the same samples up to its
16-bit conversion (quantised alike, all but 1–3 samples in a million agree; the rest by one
step). :func:`kgjemb.demo.render.render_midi` turns them into the catalog's excerpts.

One synth is not thread-safe: use one per process (the demo builder runs a process pool).

>>> synth = FluidSynth(soundfont="/usr/share/sounds/sf2/FluidR3_GM.sf2", sample_rate=22050, gain=0.6)  # doctest: +SKIP
>>> frames = synth.render(midi_bytes, max_frames=441000)  # doctest: +SKIP
>>> frames.shape, frames.dtype  # at most max_frames, rounded up to a 64-frame block  # doctest: +SKIP
((441024, 2), dtype('float32'))
"""
from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import logging
from pathlib import Path

import numpy as np

from kgjemb.errors import MissingDependencyError

__all__ = ["BLOCK_FRAMES", "FluidSynth", "library_version", "load_library"]

logger = logging.getLogger(__name__)

#: frames per render call: the command line's file renderer writes blocks of
#: ``audio.period-size`` (64) frames and stops after the block in which the player finishes
BLOCK_FRAMES = 64
_PLAYER_PLAYING = 1  # FLUID_PLAYER_PLAYING
_FLUID_FAILED = -1
_LOG_LEVELS = {0: logging.ERROR, 1: logging.ERROR, 2: logging.WARNING, 3: logging.DEBUG, 4: logging.DEBUG}
_LIB: ctypes.CDLL | None = None
_LOG_FN = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p)


_QUIET = False  # set while a render's synth drops the shared soundfont: its "no preset" warnings are expected


def _log(level: int, message: bytes | None, _data) -> None:
    logger.log(logging.DEBUG if _QUIET else _LOG_LEVELS.get(level, logging.DEBUG), "fluidsynth: %s",
               (message or b"").decode("utf-8", "replace"))


_LOG_CALLBACK = _LOG_FN(_log)  # kept alive for as long as the library may call it


@contextlib.contextmanager
def _expected_warnings():
    """Log the library's messages at DEBUG inside the block."""
    global _QUIET
    _QUIET = True
    try:
        yield
    finally:
        _QUIET = False


def load_library(names: tuple[str, ...] | None = None) -> ctypes.CDLL:
    """The libfluidsynth C library, its log routed to :mod:`logging`.

    ``names``: the shared objects to try, in order (default: ``libfluidsynth.so.3``, then
    what :func:`ctypes.util.find_library` finds); the default one is loaded once per process.
    Raises :class:`MissingDependencyError` naming the Debian package when none loads.
    """
    global _LIB
    if names is None and _LIB is not None:
        return _LIB
    tried = names if names is not None else ("libfluidsynth.so.3", ctypes.util.find_library("fluidsynth"))
    lib, errors = None, []
    for name in filter(None, tried):
        try:
            lib = ctypes.CDLL(name)
            break
        except OSError as err:
            errors.append(f"{name}: {err}")
    if lib is None:
        raise MissingDependencyError(
            "the demo catalog renders with libfluidsynth (C API 2.x), which was not found "
            f"({'; '.join(errors) or 'no library named fluidsynth'}): sudo apt-get install libfluidsynth3 "
            "(Debian package 'libfluidsynth3', installed with 'fluidsynth'; `make sysdeps` does it)")
    vp, cp, ci, cd = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.c_double
    sigs = {  # name: (restype, argtypes)
        "fluid_version_str": (cp, []),
        "fluid_set_log_function": (vp, [ci, _LOG_FN, vp]),
        "new_fluid_settings": (vp, []),
        "delete_fluid_settings": (None, [vp]),
        "fluid_settings_setnum": (ci, [vp, cp, cd]),
        "fluid_settings_setint": (ci, [vp, cp, ci]),
        "fluid_settings_setstr": (ci, [vp, cp, cp]),
        "new_fluid_synth": (vp, [vp]),
        "delete_fluid_synth": (None, [vp]),
        "fluid_synth_sfload": (ci, [vp, cp, ci]),
        "fluid_synth_get_sfont_by_id": (vp, [vp, ci]),
        "fluid_synth_add_sfont": (ci, [vp, vp]),
        "fluid_synth_remove_sfont": (ci, [vp, vp]),
        "fluid_synth_write_float": (ci, [vp, ci, vp, ci, ci, vp, ci, ci]),
        "new_fluid_player": (vp, [vp]),
        "delete_fluid_player": (None, [vp]),
        "fluid_player_add_mem": (ci, [vp, vp, ctypes.c_size_t]),
        "fluid_player_play": (ci, [vp]),
        "fluid_player_get_status": (ci, [vp]),
    }
    for name, (restype, argtypes) in sigs.items():
        try:
            fn = getattr(lib, name)
        except AttributeError as err:
            raise MissingDependencyError(f"libfluidsynth lacks {name} (need C API 2.x): "
                                         "sudo apt-get install libfluidsynth3") from err
        fn.restype, fn.argtypes = restype, argtypes
    version = library_version(lib)
    if not version.startswith("2."):
        raise MissingDependencyError(f"libfluidsynth {version} found, the renderer needs 2.x: "
                                     "sudo apt-get install libfluidsynth3")
    for level in _LOG_LEVELS:
        lib.fluid_set_log_function(level, _LOG_CALLBACK, None)
    if names is None:
        _LIB = lib
    logger.debug("libfluidsynth %s loaded", version)
    return lib


def library_version(lib: ctypes.CDLL | None = None) -> str:
    """The libfluidsynth version string, e.g. ``'2.3.1'``."""
    lib = lib or load_library()
    return lib.fluid_version_str().decode()


class FluidSynth:
    """A loaded ``soundfont`` that renders MIDI as ``fluidsynth -ni -F ... -R 0 -C 0 -g GAIN
    -r RATE -o synth.cpu-cores=1`` does (reverb and chorus off, sample-timed player).

    Each :meth:`render` runs on a new synthesizer that shares the loaded soundfont, so that
    no state of one render (voices, dither position, internal clock) reaches the next: the
    same MIDI gives the same frames whatever was rendered before. ``soundfont``: an .sf2
    file; ``sample_rate`` in Hz; ``gain``: the synth's master gain. Call :meth:`close` (or
    use it as a context manager) to free the soundfont's memory.
    """

    def __init__(self, *, soundfont: str | Path, sample_rate: int, gain: float) -> None:
        if sample_rate <= 0:
            raise ValueError(f"sample_rate must be positive, got {sample_rate}")
        self._lib = load_library()
        self.soundfont, self.sample_rate, self.gain = Path(soundfont), int(sample_rate), float(gain)
        if not self.soundfont.is_file():
            raise MissingDependencyError(f"soundfont {self.soundfont} not found: sudo apt-get install "
                                         "fluid-soundfont-gm (`make sysdeps` does it)")
        lib = self._lib
        self._settings = lib.new_fluid_settings()
        self._owner = self._sfont = None  # the synth that owns the loaded soundfont, and the soundfont
        try:
            for key, value in (("synth.sample-rate", float(sample_rate)), ("synth.gain", float(gain))):
                self._check(lib.fluid_settings_setnum(self._settings, key.encode(), value), key)
            for key, value in (("synth.reverb.active", 0), ("synth.chorus.active", 0), ("synth.cpu-cores", 1),
                               ("synth.lock-memory", 0)):
                self._check(lib.fluid_settings_setint(self._settings, key.encode(), value), key)
            self._check(lib.fluid_settings_setstr(self._settings, b"player.timing-source", b"sample"),
                        "player.timing-source")
            self._owner = self._new_synth()
            sfont_id = lib.fluid_synth_sfload(self._owner, str(self.soundfont).encode(), 1)
            if sfont_id == _FLUID_FAILED:
                raise RuntimeError(f"libfluidsynth could not load the soundfont {self.soundfont}")
            self._sfont = lib.fluid_synth_get_sfont_by_id(self._owner, sfont_id)
        except BaseException:
            self.close()
            raise

    @staticmethod
    def _check(status: int, key: str) -> None:
        if status == _FLUID_FAILED:
            raise RuntimeError(f"libfluidsynth rejected the setting {key}")

    def _new_synth(self) -> int:
        synth = self._lib.new_fluid_synth(self._settings)
        if not synth:
            raise RuntimeError("libfluidsynth could not create a synthesizer")
        return synth

    def render(self, midi: bytes, *, max_frames: int) -> np.ndarray:
        """Play the Standard MIDI File ``midi`` and return its stereo frames, float32 of
        shape (frames, 2): blocks of :data:`BLOCK_FRAMES` until the player finishes, at most
        ``max_frames`` (rounded up to a whole block)."""
        if self._sfont is None:
            raise RuntimeError("this FluidSynth is closed")
        if max_frames <= 0:
            raise ValueError(f"max_frames must be positive, got {max_frames}")
        lib = self._lib
        synth = self._new_synth()
        player = None
        try:
            if lib.fluid_synth_add_sfont(synth, self._sfont) == _FLUID_FAILED:
                raise RuntimeError("libfluidsynth could not share the loaded soundfont")
            player = lib.new_fluid_player(synth)
            if not player:
                raise RuntimeError("libfluidsynth could not create a MIDI player")
            buf = ctypes.create_string_buffer(bytes(midi), len(midi))
            if lib.fluid_player_add_mem(player, buf, len(midi)) == _FLUID_FAILED:
                raise ValueError("libfluidsynth rejected the MIDI data")
            lib.fluid_player_play(player)
            blocks = -(-max_frames // BLOCK_FRAMES)
            out = np.zeros((blocks * BLOCK_FRAMES, 2), dtype=np.float32)  # (frames, 2) interleaved L/R
            base = out.ctypes.data
            done = 0
            while done < blocks and lib.fluid_player_get_status(player) == _PLAYER_PLAYING:
                offset = 2 * done * BLOCK_FRAMES  # in floats
                if lib.fluid_synth_write_float(synth, BLOCK_FRAMES, base, offset, 2, base, offset + 1, 2) != 0:
                    raise RuntimeError("libfluidsynth failed to render a block")
                done += 1
        finally:
            with _expected_warnings():
                if player:
                    lib.delete_fluid_player(player)
                lib.fluid_synth_remove_sfont(synth, self._sfont)  # the owner keeps it: deleting synth must not free it
                lib.delete_fluid_synth(synth)
        return out[: done * BLOCK_FRAMES]

    def close(self) -> None:
        """Free the soundfont and the settings (idempotent)."""
        if self._owner:
            self._lib.delete_fluid_synth(self._owner)
            self._owner = self._sfont = None
        if self._settings:
            self._lib.delete_fluid_settings(self._settings)
            self._settings = None

    def __enter__(self) -> FluidSynth:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
