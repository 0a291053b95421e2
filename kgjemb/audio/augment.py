"""Training-time augmentations of feature crops: what rooms, microphones, mastering and
codecs do to a recording, so that an audio tower trained on clean renders holds up on
real recordings.

**Why in the feature domain.** The trainer crops its windows from cached whole-file
features (log-mel dB rows, then chroma rows; :mod:`kgjemb.train.data`): no waveform is
kept or decoded while training. Each effect is applied as its power-spectrogram
equivalent, batched over ``(B, n_features, frames)`` in torch (CPU or GPU), with no
per-sample Python loop. Mel power ``P = 10^(x/10)``; the chroma rows (dB below the frame's
strongest pitch class) are carried as energies ``A = E · q`` (``E`` the frame's mel power,
``q`` the class shares) so that effects mixing frames or adding energy reach them too:

======================  ============================================  =========================
effect (in chain order)  log-mel rows                                  chroma rows
======================  ============================================  =========================
time stretch (rate r)   frames resampled (linear) at rate r           same
pitch shift (s semit.)  band b read at ``f_b · 2^(-s/12)``            circular fractional roll
EQ                      + smooth curve over bands (tilt + 2 bells)    unchanged (normalised)
room reverb             ``P ∗ h`` along time per band; ``h`` =        ``A ∗ mean_b h``
                        direct path + exponentially decaying noise
                        tail (RT60, highs decay faster; DRR)
compression             − gain reduction from the smoothed frame      same per-frame gain
                        level above a threshold (ratio)
additive noise          + coloured noise (white…brown) at an SNR,     + the noise, spread
                        fluctuating per band and frame                evenly over classes
codec                   low-pass at a cutoff; signal-shaped           + the quantisation noise
                        quantisation noise at an SNR; weak bands
                        dropped (spectral holes)
gain                    + g dB                                        unchanged
======================  ============================================  =========================

Frames that are digital silence or padding (every log-mel row at the floor) stay as they
are: at inference padding is the model's own artefact, not audio. Everything random is
drawn from the ``rng`` handed in (parameters from it directly, per-bin noise from a torch
generator seeded by it), so one seed gives one result.

>>> cfg = AugmentConfig(enabled=True)
>>> x = torch.full((4, 76, input_frames(250, cfg)), -40.0)       # (B, n_features, T_in)
>>> y = augment_features(x, frames=250, config=cfg, frontend=FrontendConfig(),
...                      rng=np.random.default_rng(0))          # (4, 76, 250)
"""
from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

from kgjemb.audio.config import FrontendConfig
from kgjemb.audio.features import Chroma, _mel_basis, silence_db

__all__ = ["AUGMENTATIONS", "AugmentConfig", "augment_features", "input_frames"]

#: the effects, in the order they are applied
AUGMENTATIONS = ("stretch", "pitch", "eq", "reverb", "compress", "noise", "codec", "gain")

_RANGES = ("gain_db", "compress_ratio", "compress_threshold_db", "snr_db", "rt60_s", "drr_db",
           "codec_cutoff_hz", "codec_snr_db", "noise_colour")


@dataclass(frozen=True)
class AugmentConfig:
    """Which effects run on training crops, how often and how strongly.

    ``enabled`` (False) applies them to the crops of the supervised terms; the
    self-supervised objective always augments its two views (that is what makes them two
    views). Each effect runs on a crop with probability ``p_<effect>`` (0 switches it off)
    and draws its strength uniformly from its range:

    * ``stretch`` (0.3): rate in ``1 ± stretch`` (0.08); ``pitch`` (0.3): ``± pitch_semitones`` (1.0);
    * ``eq`` (0.5): tilt and two bells of up to ``± eq_db`` (6 dB);
    * ``reverb`` (0.5): ``rt60_s`` (0.2, 1.0) s, direct-to-reverberant ``drr_db`` (-3, 12) dB;
    * ``compress`` (0.3): ``compress_ratio`` (2, 8), threshold ``compress_threshold_db``
      (-20, -6) dB below the crop's loudest (smoothed) frame;
    * ``noise`` (0.5): ``snr_db`` (5, 35) dB, colour ``noise_colour`` (0 white … 2 brown);
    * ``codec`` (0.3): low-pass at ``codec_cutoff_hz`` (3,000, 7,500) Hz, quantisation
      noise at ``codec_snr_db`` (8, 25) dB;
    * ``gain`` (1.0): ``gain_db`` (-12, 6) dB.
    """

    enabled: bool = False
    p_stretch: float = 0.3
    stretch: float = 0.08
    p_pitch: float = 0.3
    pitch_semitones: float = 1.0
    p_eq: float = 0.5
    eq_db: float = 6.0
    p_reverb: float = 0.5
    rt60_s: tuple[float, float] = (0.2, 1.0)
    drr_db: tuple[float, float] = (-3.0, 12.0)
    p_compress: float = 0.3
    compress_ratio: tuple[float, float] = (2.0, 8.0)
    compress_threshold_db: tuple[float, float] = (-20.0, -6.0)
    p_noise: float = 0.5
    snr_db: tuple[float, float] = (5.0, 35.0)
    noise_colour: tuple[float, float] = (0.0, 2.0)
    p_codec: float = 0.3
    codec_cutoff_hz: tuple[float, float] = (3000.0, 7500.0)
    codec_snr_db: tuple[float, float] = (8.0, 25.0)
    p_gain: float = 1.0
    gain_db: tuple[float, float] = (-12.0, 6.0)

    def __post_init__(self) -> None:
        for name in _RANGES:  # JSON gives lists
            value = getattr(self, name)
            if len(value) != 2 or not value[0] <= value[1]:
                raise ValueError(f"augment.{name} must be [low, high] with low <= high, got {value}")
            object.__setattr__(self, name, (float(value[0]), float(value[1])))
        for name in AUGMENTATIONS:
            p = getattr(self, f"p_{name}")
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"augment.p_{name} must be in [0, 1], got {p}")
        if not 0.0 <= self.stretch < 0.5:
            raise ValueError(f"augment.stretch must be in [0, 0.5), got {self.stretch}")
        for name in ("pitch_semitones", "eq_db"):
            if getattr(self, name) < 0:
                raise ValueError(f"augment.{name} must be >= 0, got {getattr(self, name)}")
        if self.rt60_s[0] <= 0 or self.compress_ratio[0] < 1 or self.codec_cutoff_hz[0] <= 0:
            raise ValueError("augment: need rt60_s > 0, compress_ratio >= 1 and codec_cutoff_hz > 0")

    def only(self, *names: str) -> "AugmentConfig":
        """This config with every effect but ``names`` switched off (probability 1 for those)."""
        unknown = sorted(set(names) - set(AUGMENTATIONS))
        if unknown:
            raise ValueError(f"unknown augmentations {unknown}; choose from {list(AUGMENTATIONS)}")
        return dataclasses.replace(self, **{f"p_{n}": float(n in names) for n in AUGMENTATIONS})


def input_frames(frames: int, config: AugmentConfig) -> int:
    """Frames to crop so that a time stretch up to ``1 + stretch`` still yields ``frames``."""
    if config.p_stretch <= 0 or config.stretch <= 0:
        return frames
    return int(math.ceil(frames * (1.0 + config.stretch))) + 1


@functools.lru_cache(maxsize=8)
def _bands(fe: FrontendConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per mel band: centre frequency (Hz), position on the mel axis in band units, and the
    effective number of STFT bins it averages (how much a noise's power in it fluctuates)."""
    import librosa

    fmax = fe.fmax or fe.sample_rate / 2
    centres = librosa.mel_frequencies(fe.n_mels + 2, fmin=fe.fmin, fmax=fmax)[1:-1]  # (n_mels,)
    basis = _mel_basis(fe.sample_rate, fe.n_fft, fe.n_mels, fe.fmin, fe.fmax).numpy()  # (n_mels, n_bins)
    n_eff = basis.sum(1) ** 2 / np.maximum((basis**2).sum(1), 1e-20)  # (n_mels,)
    return centres, basis, np.maximum(n_eff, 1.0)


def _mel_index(hz: np.ndarray, fe: FrontendConfig) -> np.ndarray:
    """Fractional band index of frequencies ``hz`` (bands are evenly spaced in mel)."""
    import librosa

    fmax = fe.fmax or fe.sample_rate / 2
    edges = librosa.hz_to_mel(np.array([fe.fmin, fmax]))
    step = (edges[1] - edges[0]) / (fe.n_mels + 1)
    return (librosa.hz_to_mel(np.maximum(hz, 1e-3)) - edges[0]) / step - 1.0


def _fluctuation(shape: tuple[int, ...], n_eff: torch.Tensor, gen: torch.Generator, device) -> torch.Tensor:
    """Mean-1 positive noise with variance ``1 / n_eff`` (broadcast over dim 1): the power
    of a noise averaged over ``n_eff`` bins, as a log-normal with matching moments."""
    sigma = torch.sqrt(torch.log1p(1.0 / n_eff)).view(1, -1, *([1] * (len(shape) - 2)))
    z = torch.randn(shape, generator=gen, device=device)
    return torch.exp(sigma * z - sigma**2 / 2)


def _gather_time(x: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
    """Linear interpolation of ``x`` ``(B, F, T)`` at fractional frame positions ``pos`` ``(B, T')``."""
    t_in = x.shape[2]
    pos = pos.clamp(0, t_in - 1)
    i0 = pos.floor().long()  # (B, T')
    i1 = (i0 + 1).clamp(max=t_in - 1)
    w = (pos - i0).unsqueeze(1)  # (B, 1, T')
    idx = lambda i: i.unsqueeze(1).expand(-1, x.shape[1], -1)  # noqa: E731 - (B, F, T')
    return torch.gather(x, 2, idx(i0)) * (1 - w) + torch.gather(x, 2, idx(i1)) * w


def _gather_rows(x: torch.Tensor, pos: torch.Tensor, *, circular: bool) -> torch.Tensor:
    """Linear interpolation of ``x`` ``(B, R, T)`` along rows at positions ``pos`` ``(B, R)``
    (clamped to the edge rows, or wrapped round when ``circular``)."""
    r = x.shape[1]
    i0 = pos.floor()
    w = (pos - i0).unsqueeze(2)  # (B, R, 1)
    i0 = i0.long()
    i1 = i0 + 1
    if circular:
        i0, i1 = i0 % r, i1 % r
    else:
        i0, i1 = i0.clamp(0, r - 1), i1.clamp(0, r - 1)
    idx = lambda i: i.unsqueeze(2).expand(-1, -1, x.shape[2])  # noqa: E731 - (B, R, T)
    return torch.gather(x, 1, idx(i0)) * (1 - w) + torch.gather(x, 1, idx(i1)) * w


def _uniform(rng: np.random.Generator, span: tuple[float, float], n: int) -> np.ndarray:
    return rng.uniform(span[0], span[1], size=n)


def _t(a: np.ndarray, device) -> torch.Tensor:
    return torch.as_tensor(np.asarray(a, dtype=np.float32), device=device)


def augment_features(
    x: torch.Tensor,
    *,
    frames: int,
    config: AugmentConfig,
    frontend: FrontendConfig,
    rng: np.random.Generator,
) -> torch.Tensor:
    """Augment a batch of feature crops: ``(B, n_mels + n_chroma, T_in)`` dB features with
    ``T_in >= input_frames(frames, config)`` → ``(B, n_mels + n_chroma, frames)`` float32
    on ``x``'s device. Each crop draws which effects run and their strengths from ``rng``
    (see the module table); ``config.enabled`` is not consulted here (the caller decides).
    """
    fe, cfg = frontend, config
    b, n_rows, t_in = x.shape
    nm, nc = fe.n_mels, fe.n_chroma
    if n_rows != nm + nc:
        raise ValueError(f"expected (batch, {nm + nc}, frames) features, got {tuple(x.shape)}")
    if t_in < input_frames(frames, cfg):
        raise ValueError(f"need at least {input_frames(frames, cfg)} input frames for {frames}, got {t_in}")
    dev = x.device
    x = x.float()
    pad = silence_db(fe)
    fps = fe.sample_rate / fe.hop_length
    on = {n: rng.random(b) < getattr(cfg, f"p_{n}") for n in AUGMENTATIONS}  # n → (B,) bool
    gen = torch.Generator(device=dev).manual_seed(int(rng.integers(2**62)))
    centres, basis, n_eff_np = _bands(fe)
    n_eff = _t(n_eff_np, dev)  # (n_mels,)
    z = _t(np.linspace(0.0, 1.0, nm), dev)  # (n_mels,) band position 0..1

    # time stretch: output frame t reads input frame t·r
    rate = 1.0 + _uniform(rng, (-cfg.stretch, cfg.stretch), b)
    y = x[:, :, :frames].clone()
    sel = _subset(on["stretch"], dev)
    if sel is not None:
        pos = _t(rate, dev)[sel, None] * torch.arange(frames, device=dev, dtype=torch.float32)  # (b', frames)
        y[sel] = _gather_time(x[sel], pos)
    x = y  # (B, n_rows, frames)
    mel, chroma = x[:, :nm], x[:, nm:]
    silent = (mel <= pad + 1e-3).all(dim=1)  # (B, frames) padding / digital silence

    # pitch shift: band b takes what was at f_b · 2^(-s/12); chroma rolls by s classes
    semis = _uniform(rng, (-cfg.pitch_semitones, cfg.pitch_semitones), b)
    sel = _subset(on["pitch"], dev)
    if sel is not None:
        src = _mel_index(centres[None, :] * 2.0 ** (-semis[on["pitch"], None] / 12.0), fe)  # (b', n_mels)
        mel, chroma = mel.clone(), chroma.clone()
        mel[sel] = _gather_rows(mel[sel], _t(src, dev), circular=False)
        if nc:
            cls = np.arange(nc)[None, :] - semis[on["pitch"], None] * nc / 12.0  # (b', n_chroma)
            chroma[sel] = _gather_rows(chroma[sel], _t(cls, dev), circular=True)

    # linear energies in float64 (a 100 dB range: float32 FFTs would bury the quiet bands)
    power = torch.pow(10.0, mel.double() / 10.0)  # (B, n_mels, frames)
    energy = power.sum(1)  # (B, frames) frame energy before effects
    share = torch.pow(10.0, chroma.double().clamp(min=Chroma.floor_db) / 10.0)  # (B, n_chroma, frames)
    chroma_e = energy[:, None] * share / share.sum(1, keepdim=True).clamp(min=1e-30)  # (B, n_chroma, frames)

    # EQ: tilt + two bells over the mel axis (dB)
    eq_on = _t(on["eq"], dev)[:, None]
    curve = eq_on * _t(_uniform(rng, (-cfg.eq_db, cfg.eq_db), b), dev)[:, None] * (2 * z - 1)[None]  # (B, n_mels)
    for _ in range(2):
        a = eq_on * _t(_uniform(rng, (-cfg.eq_db, cfg.eq_db), b), dev)[:, None]
        c, w = _t(rng.uniform(0, 1, b), dev)[:, None], _t(rng.uniform(0.04, 0.2, b), dev)[:, None]
        curve = curve + a * torch.exp(-0.5 * ((z[None] - c) / w) ** 2)
    power = power * torch.pow(10.0, curve.double() / 10.0)[:, :, None]

    # room reverb: direct path + exponentially decaying noise tail, per band, in power
    rt60, drr = _uniform(rng, cfg.rt60_s, b), _uniform(rng, cfg.drr_db, b)
    sel = _subset(on["reverb"], dev)
    if sel is not None:
        taps = int(math.ceil(1.2 * cfg.rt60_s[1] * fps)) + 1
        k = torch.arange(taps, device=dev, dtype=torch.float64)  # (K,)
        rt_band = _t(rt60, dev)[sel, None].double() * (1.2 - 0.6 * z.double())[None]  # (b', n_mels) highs decay faster
        env = torch.pow(10.0, -6.0 * k[None, None] / (rt_band[:, :, None] * fps))  # (b', n_mels, K)
        env[:, :, 0] = 0.0
        tail = env * _fluctuation((len(sel), nm, taps), n_eff, gen, dev).double()
        level = _t(10.0 ** (-drr / 10.0), dev)[sel, None, None].double()
        ir = level * tail / env.sum(2, keepdim=True).clamp(min=1e-30)  # (b', n_mels, K)
        ir[:, :, 0] = 1.0
        power, chroma_e = power.clone(), chroma_e.clone()
        power[sel] = _convolve_time(power[sel], ir)
        if nc:
            chroma_e[sel] = _convolve_time(chroma_e[sel], ir.mean(1, keepdim=True).expand(-1, nc, -1))

    # compression: gain reduction above a threshold below the loudest smoothed frame
    loud = 10.0 * torch.log10(power.sum(1).clamp(min=1e-30)).float()  # (B, frames)
    loud = F.avg_pool1d(loud[:, None], 5, stride=1, padding=2, count_include_pad=False)[:, 0]
    loud = loud.masked_fill(silent, -1e4)
    thr = loud.amax(1, keepdim=True) + _t(_uniform(rng, cfg.compress_threshold_db, b), dev)[:, None]
    ratio = _t(np.where(on["compress"], _uniform(rng, cfg.compress_ratio, b), 1.0), dev)[:, None]
    cut = torch.pow(10.0, -(loud - thr).clamp(min=0) * (1 - 1 / ratio) / 10.0).double()  # (B, frames)
    power, chroma_e = power * cut[:, None], chroma_e * cut[:, None]

    # additive noise: coloured, at an SNR against the crop's mean (non-silent) frame energy
    colour, snr = _uniform(rng, cfg.noise_colour, b), _uniform(rng, cfg.snr_db, b)
    sel = _subset(on["noise"], dev)
    if sel is not None:
        live = (~silent[sel]).double()  # (b', frames)
        mean_e = (power[sel].sum(1) * live).sum(1) / live.sum(1).clamp(min=1)  # (b',)
        freqs = np.maximum(np.linspace(0, fe.sample_rate / 2, basis.shape[1]), 20.0)
        tint = (basis[None] * (freqs[None, None, :] / 1000.0) ** -colour[on["noise"], None, None]).sum(2)  # (b', n_mels)
        tint = torch.as_tensor(tint / tint.sum(1, keepdims=True), device=dev)
        level = mean_e * torch.as_tensor(10.0 ** (-snr[on["noise"]] / 10.0), device=dev)
        noise = level[:, None, None] * tint[:, :, None] * _fluctuation((len(sel), nm, frames), n_eff, gen, dev).double()
        power = power.index_add(0, sel, noise)
        if nc:
            chroma_e = chroma_e.index_add(0, sel, noise.sum(1, keepdim=True).expand(-1, nc, -1) / nc)

    # codec: low-pass, signal-shaped quantisation noise, spectral holes in weak bands
    cutoff, qsnr = _uniform(rng, cfg.codec_cutoff_hz, b), _uniform(rng, cfg.codec_snr_db, b)
    sel = _subset(on["codec"], dev)
    if sel is not None:
        p, cut_hz = power[sel], _t(cutoff[on["codec"]], dev)[:, None]
        q = torch.as_tensor(10.0 ** (-qsnr[on["codec"]] / 10.0), device=dev)[:, None, None]  # (b', 1, 1)
        above = torch.sigmoid((_t(centres, dev)[None] - cut_hz) / (0.02 * cut_hz)).double()  # (b', n_mels)
        smooth = F.avg_pool2d(p[:, None], 3, stride=1, padding=1, count_include_pad=False)[:, 0]
        qnoise = smooth * q * _fluctuation((len(sel), nm, frames), n_eff, gen, dev).double()
        weak = p < p.amax(1, keepdim=True) * q * 1e-2  # 20 dB below the quantisation noise
        power = power.clone()
        power[sel] = (p * torch.where(weak, 1e-3, 1.0) + qnoise) * torch.pow(10.0, -8.0 * above)[:, :, None]
        if nc:
            chroma_e = chroma_e.index_add(0, sel, qnoise.sum(1, keepdim=True).expand(-1, nc, -1) / nc)

    # gain
    gain = _t(np.where(on["gain"], _uniform(rng, cfg.gain_db, b), 0.0), dev)[:, None, None]
    mel = (10.0 * torch.log10(power.clamp(min=fe.amin))).float() + gain
    out = [mel.clamp(min=pad)]
    if nc:
        peak = chroma_e.amax(1, keepdim=True).clamp(min=1e-30)
        out.append((10.0 * torch.log10((chroma_e / peak).clamp(min=1e-30))).float().clamp(min=Chroma.floor_db))
    y = torch.cat(out, dim=1)  # (B, n_rows, frames)
    return torch.where(silent[:, None], x, y)


def _subset(mask: np.ndarray, device) -> torch.Tensor | None:
    """Indices of the crops an effect runs on, or None when it runs on none."""
    idx = np.flatnonzero(mask)
    return torch.as_tensor(idx, device=device) if len(idx) else None


def _convolve_time(power: torch.Tensor, ir: torch.Tensor) -> torch.Tensor:
    """Causal convolution along time of ``power`` ``(B, R, T)`` with per-row kernels ``ir``
    ``(B, R, K)`` by FFT, cut to ``T`` frames, non-negative."""
    t, k = power.shape[2], ir.shape[2]
    n = 1 << (t + k - 1).bit_length()
    out = torch.fft.irfft(torch.fft.rfft(power, n=n) * torch.fft.rfft(ir, n=n), n=n)[..., :t]
    return out.clamp(min=0.0)
