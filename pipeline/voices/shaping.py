"""Pitch and timbre shaping of synthesised speech, one sentence at a time.

Two steps, each cheap and stateless across sentences (Piper's sentences start
and end in silence, so each can be shaped alone):

1. **Resample** by the pitch ratio `p`: played back at the same rate, the
   sentence is `p` times shorter and everything in it, the fundamental and the
   formants, is `p` times higher. The voice compensates the duration up front
   by asking Piper for `p` times longer speech (`length_scale`), so the
   speaking rate stays as configured and no time-stretching artefacts appear.
2. **Warp the spectral envelope** by `formant_ratio / p`, so the formants end up
   at `formant_ratio` times where the model put them while the harmonics (the
   pitch) stay where step 1 put them. Per STFT frame, the envelope is the
   cepstrally smoothed log magnitude; each bin is scaled by the ratio of the
   warped envelope to the original one, keeping the frame's phase.

Pitch +4 semitones with `formant_ratio=1` is then a higher voice of the same
size; `formant_ratio > 1` alone sounds like a smaller speaker at the same pitch.
The output is peak-normalised to the input's peak, as Piper normalises its own.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import soxr

Samples = npt.NDArray[np.float32]

_FFT = 512
"""23 ms at 22 050 Hz: fine enough for the envelope, short enough for speech."""
_HOP = _FFT // 4
_LIFTER = 40
"""Cepstral coefficients kept for the envelope (1.8 ms): below the pitch period of voices up to 550 Hz.

Chosen by measurement on en_US-joe-medium: shifting pitch by -4, +4 and +8 semitones with the
formants kept in place leaves every band from 300 Hz to 7 kHz within 1 dB on average of the
unshifted voice (30 coefficients: up to 2.3 dB, with F1 losing 7 dB at +8)."""
_MAX_GAIN_LOG = np.log(10.0**1.5)
"""No bin is raised or lowered by more than 30 dB (quiet bins between formants)."""
_EPSILON = 1e-7


class Shaper:
    """Shifts pitch by `pitch_ratio` and formants by `formant_ratio` (1.0 leaves each alone)."""

    def __init__(self, *, sample_rate: int, pitch_ratio: float, formant_ratio: float) -> None:
        self.sample_rate = sample_rate
        self.pitch_ratio = pitch_ratio
        self.formant_ratio = formant_ratio
        self._warp = formant_ratio / pitch_ratio
        self._window = np.hanning(_FFT + 1)[:-1].astype(np.float32)  # periodic, for exact overlap-add
        # Hann analysis and synthesis windows at a quarter-frame hop sum (squared) to 1.5 everywhere.
        self._ola_gain = float(np.sum(self._window**2) / _HOP)
        # The warped envelope at bin k is the original envelope at bin k / warp, linearly interpolated.
        # Past Nyquist (raising pitch discarded what was there) the envelope is read at Nyquist, where
        # the resampler's filter has rolled off: the few bins above it are damped rather than boosted.
        source = np.minimum(np.arange(_FFT // 2 + 1) / self._warp, _FFT // 2)
        self._lo = np.floor(source).astype(np.intp)
        self._hi = np.minimum(self._lo + 1, _FFT // 2)
        self._frac = (source - self._lo).astype(np.float32)

    @property
    def is_identity(self) -> bool:
        return self.pitch_ratio == 1.0 and self.formant_ratio == 1.0

    def __call__(self, audio: Samples) -> Samples:
        if self.is_identity or audio.size == 0:
            return audio
        peak = float(np.max(np.abs(audio)))
        shaped = audio
        if self.pitch_ratio != 1.0:
            shaped = soxr.resample(shaped, self.sample_rate * self.pitch_ratio, self.sample_rate)
        if abs(self._warp - 1.0) > 1e-6:
            shaped = self._warp_envelope(shaped)
        shaped_peak = float(np.max(np.abs(shaped)))
        if shaped_peak > _EPSILON:
            shaped = shaped * np.float32(peak / shaped_peak)
        return shaped.astype(np.float32, copy=False)

    def _warp_envelope(self, audio: Samples) -> Samples:
        length = audio.size
        tail = _FFT + (-(length + _FFT) % _HOP)
        padded = np.concatenate([np.zeros(_FFT, np.float32), audio, np.zeros(tail, np.float32)])
        frames = np.lib.stride_tricks.sliding_window_view(padded, _FFT)[::_HOP] * self._window
        spectrum = np.fft.rfft(frames, axis=1)
        log_magnitude = np.log(np.abs(spectrum) + _EPSILON)
        cepstrum = np.fft.irfft(log_magnitude, n=_FFT, axis=1)
        cepstrum[:, _LIFTER : _FFT - _LIFTER + 1] = 0.0
        envelope = np.fft.rfft(cepstrum, axis=1).real
        warped = envelope[:, self._lo] * (1.0 - self._frac) + envelope[:, self._hi] * self._frac
        gain = np.exp(np.clip(warped - envelope, -_MAX_GAIN_LOG, _MAX_GAIN_LOG))
        out_frames = np.fft.irfft(spectrum * gain, n=_FFT, axis=1) * self._window
        # Overlap-add: frame i starts at i * hop, so each quarter of every frame lands in one strided sum.
        count = out_frames.shape[0]
        out = np.zeros((count + _FFT // _HOP - 1) * _HOP, np.float64)
        for quarter in range(_FFT // _HOP):
            block = out_frames[:, quarter * _HOP : (quarter + 1) * _HOP].reshape(-1)
            out[quarter * _HOP : quarter * _HOP + block.size] += block
        return (out[_FFT : _FFT + length] / self._ola_gain).astype(np.float32)
