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

__all__ = [
    "AUGMENTATIONS",
    "AugmentConfig",
    "augment_features",
    "codec",
    "coloured_noise",
    "compression_gain",
    "eq_curve",
    "input_frames",
    "pitch_shift",
    "reverb",
    "time_stretch",
]

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
    Every effect runs batched over the crops it was drawn for.
    """
    fe, cfg = frontend, config
    b, n_rows, t_in = x.shape
    nm, nc = fe.n_mels, fe.n_chroma
    if n_rows != nm + nc:
        raise ValueError(f"expected (batch, {nm + nc}, frames) features, got {tuple(x.shape)}")
    if t_in < input_frames(frames, cfg):
        raise ValueError(f"need at least {input_frames(frames, cfg)} input frames for {frames}, got {t_in}")
    dev = x.device
    on = {n: rng.random(b) < getattr(cfg, f"p_{n}") for n in AUGMENTATIONS}  # n → (B,) bool
    gen = torch.Generator(device=dev).manual_seed(int(rng.integers(2**62)))
    draw = lambda span: rng.uniform(span[0], span[1], size=b)  # noqa: E731 - (B,) strengths
    rate = 1.0 + draw((-cfg.stretch, cfg.stretch))
    semis = draw((-cfg.pitch_semitones, cfg.pitch_semitones))
    curve = eq_curve(np.where(on["eq"], 1.0, 0.0)[:, None] * rng.uniform(-cfg.eq_db, cfg.eq_db, size=(b, 3)),
                     rng.uniform(0, 1, size=(b, 2)), rng.uniform(0.04, 0.2, size=(b, 2)), nm)  # (B, n_mels)
    rt60, drr = draw(cfg.rt60_s), draw(cfg.drr_db)
    threshold, ratio = draw(cfg.compress_threshold_db), np.where(on["compress"], draw(cfg.compress_ratio), 1.0)
    colour, snr = draw(cfg.noise_colour), draw(cfg.snr_db)
    cutoff, qsnr = draw(cfg.codec_cutoff_hz), draw(cfg.codec_snr_db)
    gain = np.where(on["gain"], draw(cfg.gain_db), 0.0)

    x = x.float()
    y = x[:, :, :frames].clone()
    if (sel := _subset(on["stretch"])) is not None:
        y[sel] = time_stretch(x[sel], rate[sel], frames)
    x = y  # (B, n_rows, frames)
    mel, chroma = x[:, :nm].clone(), x[:, nm:].clone()
    silent = (mel <= silence_db(fe) + 1e-3).all(dim=1)  # (B, frames) padding / digital silence
    if (sel := _subset(on["pitch"])) is not None:
        mel[sel], chroma[sel] = pitch_shift(mel[sel], chroma[sel], semis[sel], fe)

    # linear energies in float64 (a 100 dB range: float32 FFTs would bury the quiet bands)
    power = torch.pow(10.0, mel.double() / 10.0)  # (B, n_mels, frames)
    share = torch.pow(10.0, chroma.double().clamp(min=Chroma.floor_db) / 10.0)  # (B, n_chroma, frames)
    chroma_e = power.sum(1, keepdim=True) * share / share.sum(1, keepdim=True).clamp(min=1e-30)
    power = power * torch.pow(10.0, _t(curve, dev).double() / 10.0)[:, :, None]
    if (sel := _subset(on["reverb"])) is not None:
        power[sel], chroma_e[sel] = reverb(power[sel], chroma_e[sel], rt60[sel], drr[sel], fe, gen=gen)
    cut = compression_gain(power, silent, threshold, ratio)  # (B, frames)
    power, chroma_e = power * cut[:, None], chroma_e * cut[:, None]
    if (sel := _subset(on["noise"])) is not None:
        noise = coloured_noise(power[sel], silent[sel], snr[sel], colour[sel], fe, gen=gen)
        power[sel] = power[sel] + noise
        chroma_e[sel] = chroma_e[sel] + noise.sum(1, keepdim=True) / max(nc, 1)
    if (sel := _subset(on["codec"])) is not None:
        power[sel], qnoise = codec(power[sel], cutoff[sel], qsnr[sel], fe, gen=gen)
        chroma_e[sel] = chroma_e[sel] + qnoise.sum(1, keepdim=True) / max(nc, 1)

    mel = (10.0 * torch.log10(power.clamp(min=fe.amin))).float() + _t(gain, dev)[:, None, None]
    out = [mel.clamp(min=silence_db(fe))]
    if nc:
        peak = chroma_e.amax(1, keepdim=True).clamp(min=1e-30)
        out.append((10.0 * torch.log10((chroma_e / peak).clamp(min=1e-30))).float().clamp(min=Chroma.floor_db))
    y = torch.cat(out, dim=1)  # (B, n_rows, frames)
    return torch.where(silent[:, None], x, y)


def time_stretch(x: torch.Tensor, rate: np.ndarray, frames: int) -> torch.Tensor:
    """``(B, F, T_in)`` → ``(B, F, frames)``: output frame t reads input frame ``t · rate``
    (linear interpolation); rate > 1 is faster. Needs ``T_in > (frames - 1) · max(rate)``."""
    pos = _t(rate, x.device)[:, None] * torch.arange(frames, device=x.device, dtype=torch.float32)  # (B, frames)
    return _gather_time(x, pos)


def pitch_shift(mel: torch.Tensor, chroma: torch.Tensor, semitones: np.ndarray,
                fe: FrontendConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """Shift by ``semitones`` ``(B,)``: mel band b takes what was at ``f_b · 2^(-s/12)``
    (interpolated on the mel axis, edge bands repeated); chroma ``(B, n_chroma, T)`` rolls
    by s classes (fractionally, circularly)."""
    centres, _, _ = _bands(fe)
    src = _mel_index(centres[None, :] * 2.0 ** (-semitones[:, None] / 12.0), fe)  # (B, n_mels)
    mel = _gather_rows(mel, _t(src, mel.device), circular=False)
    if chroma.shape[1]:
        nc = chroma.shape[1]
        cls = np.arange(nc)[None, :] - semitones[:, None] * nc / 12.0  # (B, n_chroma)
        chroma = _gather_rows(chroma, _t(cls, chroma.device), circular=True)
    return mel, chroma


def eq_curve(amp_db: np.ndarray, centre: np.ndarray, width: np.ndarray, n_mels: int) -> np.ndarray:
    """EQ gains in dB ``(B, n_mels)``: a tilt of ``amp_db[:, 0]`` (low end -a, high end +a)
    plus bells of ``amp_db[:, 1:]`` at ``centre`` with ``width`` (fractions of the mel axis)."""
    z = np.linspace(0.0, 1.0, n_mels)[None, :]  # (1, n_mels)
    curve = amp_db[:, :1] * (2 * z - 1)
    for k in range(centre.shape[1]):
        curve = curve + amp_db[:, k + 1 : k + 2] * np.exp(-0.5 * ((z - centre[:, k : k + 1]) / width[:, k : k + 1]) ** 2)
    return curve


def reverb(power: torch.Tensor, chroma_e: torch.Tensor, rt60_s: np.ndarray, drr_db: np.ndarray,
           fe: FrontendConfig, *, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Room reverb on mel powers ``(B, n_mels, T)`` and chroma energies ``(B, n_chroma, T)``:
    each band convolved along time with a synthetic impulse response's power envelope — the
    direct path (1) plus an exponentially decaying noise tail whose energy sits ``drr_db``
    below it and which falls 60 dB in ``rt60_s`` (×1.2 in the lowest band down to ×0.6 in
    the highest: air and walls absorb highs); chroma with the bands' mean response."""
    _, _, n_eff = _bands(fe)
    dev, nm = power.device, power.shape[1]
    fps = fe.sample_rate / fe.hop_length
    taps = int(math.ceil(1.2 * float(np.max(rt60_s)) * fps)) + 1
    k = torch.arange(taps, device=dev, dtype=torch.float64)  # (K,)
    z = torch.linspace(0.0, 1.0, nm, device=dev, dtype=torch.float64)
    rt_band = torch.as_tensor(rt60_s, device=dev)[:, None] * (1.2 - 0.6 * z)[None]  # (B, n_mels)
    env = torch.pow(10.0, -6.0 * k[None, None] / (rt_band[:, :, None] * fps))  # (B, n_mels, K)
    env[:, :, 0] = 0.0
    tail = env * _fluctuation((len(rt60_s), nm, taps), _t(n_eff, dev), gen, dev).double()
    level = torch.as_tensor(10.0 ** (-drr_db / 10.0), device=dev)[:, None, None]
    ir = level * tail / env.sum(2, keepdim=True).clamp(min=1e-30)  # (B, n_mels, K)
    ir[:, :, 0] = 1.0
    chroma_ir = ir.mean(1, keepdim=True).expand(-1, chroma_e.shape[1], -1)
    return _convolve_time(power, ir), _convolve_time(chroma_e, chroma_ir)


def compression_gain(power: torch.Tensor, silent: torch.Tensor, threshold_db: np.ndarray,
                     ratio: np.ndarray) -> torch.Tensor:
    """Per-frame gain ``(B, T)`` of a compressor: the frame level (dB, smoothed over ~80 ms)
    above ``threshold_db`` below the crop's loudest frame is divided by ``ratio`` (1: none)."""
    dev = power.device
    loud = 10.0 * torch.log10(power.sum(1).clamp(min=1e-30)).float()  # (B, T)
    loud = F.avg_pool1d(loud[:, None], 5, stride=1, padding=2, count_include_pad=False)[:, 0]
    loud = loud.masked_fill(silent, -1e4)
    thr = loud.amax(1, keepdim=True) + _t(threshold_db, dev)[:, None]
    reduce = (loud - thr).clamp(min=0) * (1 - 1 / _t(ratio, dev)[:, None])  # (B, T) dB
    return torch.pow(10.0, -reduce / 10.0).double()


def coloured_noise(power: torch.Tensor, silent: torch.Tensor, snr_db: np.ndarray, colour: np.ndarray,
                   fe: FrontendConfig, *, gen: torch.Generator) -> torch.Tensor:
    """Noise mel powers ``(B, n_mels, T)`` at ``snr_db`` below the crop's mean non-silent
    frame energy, with spectrum ``f^-colour`` (0 white, 1 pink, 2 brown) through the mel
    filters, fluctuating per band and frame as a real noise's band power does."""
    _, basis, n_eff = _bands(fe)
    dev = power.device
    live = (~silent).double()  # (B, T)
    mean_e = (power.sum(1) * live).sum(1) / live.sum(1).clamp(min=1)  # (B,)
    freqs = np.maximum(np.linspace(0, fe.sample_rate / 2, basis.shape[1]), 20.0)
    tint = (basis[None] * (freqs[None, None, :] / 1000.0) ** -colour[:, None, None]).sum(2)  # (B, n_mels)
    tint = torch.as_tensor(tint / tint.sum(1, keepdims=True), device=dev)
    level = mean_e * torch.as_tensor(10.0 ** (-snr_db / 10.0), device=dev)  # (B,)
    shake = _fluctuation(tuple(power.shape), _t(n_eff, dev), gen, dev).double()
    return level[:, None, None] * tint[:, :, None] * shake


def codec(power: torch.Tensor, cutoff_hz: np.ndarray, snr_db: np.ndarray, fe: FrontendConfig, *,
          gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """A lossy codec on mel powers ``(B, n_mels, T)``: quantisation noise shaped like the
    (locally smoothed) signal at ``snr_db``, bins 20 dB under that noise dropped (spectral
    holes), then a low-pass at ``cutoff_hz`` (80 dB down past a ~2 % transition). Returns
    the coded powers and the quantisation noise."""
    centres, _, n_eff = _bands(fe)
    dev = power.device
    cut = _t(cutoff_hz, dev)[:, None]
    q = torch.as_tensor(10.0 ** (-snr_db / 10.0), device=dev)[:, None, None]  # (B, 1, 1)
    above = torch.sigmoid((_t(centres, dev)[None] - cut) / (0.02 * cut)).double()  # (B, n_mels)
    smooth = F.avg_pool2d(power[:, None], 3, stride=1, padding=1, count_include_pad=False)[:, 0]
    qnoise = smooth * q * _fluctuation(tuple(power.shape), _t(n_eff, dev), gen, dev).double()
    weak = power < power.amax(1, keepdim=True) * q * 1e-2
    coded = (power * torch.where(weak, 1e-3, 1.0) + qnoise) * torch.pow(10.0, -8.0 * above)[:, :, None]
    return coded, qnoise


def _subset(mask: np.ndarray) -> np.ndarray | None:
    """Indices of the crops an effect runs on, or None when it runs on none."""
    idx = np.flatnonzero(mask)
    return idx if len(idx) else None


def _convolve_time(power: torch.Tensor, ir: torch.Tensor) -> torch.Tensor:
    """Causal convolution along time of ``power`` ``(B, R, T)`` with per-row kernels ``ir``
    ``(B, R, K)`` by FFT, cut to ``T`` frames, non-negative."""
    t, k = power.shape[2], ir.shape[2]
    n = 1 << (t + k - 1).bit_length()
    out = torch.fft.irfft(torch.fft.rfft(power, n=n) * torch.fft.rfft(ir, n=n), n=n)[..., :t]
    return out.clamp(min=0.0)
