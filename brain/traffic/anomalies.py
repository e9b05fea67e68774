"""Live anomalies on a per-minute count: `AnomalyDetector` and the `Anomaly` notices it raises.

`AnomalyDetector` flags spikes (a raid, a viral clip) and drops (stream down,
chat dead) on a live per-minute series. It is kept on its own because it is
streaming: fed one minute at a time, O(1) per update, with no series or store
behind it. A forecast interval (`brain.traffic.forecast`) can stand in for its
baseline, passed in as plain numbers, so it imports neither the forecasts nor
the series.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["Anomaly", "AnomalyDetector"]


@dataclass(frozen=True, slots=True)
class Anomaly:
    """A minute that does not look like the room: a ``spike`` or a ``drop``, with the evidence."""

    kind: str          # spike | drop
    index: int         # how many values the detector had seen (0-based position of this one)
    ts: float | None   # the minute's time, when given
    value: float
    expected: float
    score: float       # robust z-score: (value - expected) / scale
    reason: str


class AnomalyDetector:
    """Spikes and drops on a live per-minute count, fed one minute at a time, O(1) per update.

    The baseline is a robust EWMA: the level follows normal minutes with
    weight ``alpha`` and the scale is an EWMA of their absolute deviation
    (×1.25, the normal ratio of σ to the mean absolute deviation); for counts
    the scale is at least √level (Poisson noise), so a quiet room never
    raises a "drop" for a minute of silence. Anomalous minutes do not feed the
    scale and move the level at a quarter of the rate, winsorised to level ±
    ``clip`` scales: a raid cannot teach the baseline that raids are normal.

    * spike: z ≥ ``threshold`` on one minute (a raid shows at once);
    * drop: ``drop_minutes`` minutes in a row with z ≤ -``drop_threshold`` or
      below ``drop_ratio`` × level (in a room of at least ``drop_min_level``):
      one empty minute in a busy room is chance, three are a dead stream.

    One episode gives one notice: after a notice the detector stays in the
    episode until ``recover_minutes`` normal minutes in a row, and gives no
    notice of the same kind for ``cooldown`` minutes. An episode that lasts
    ``rebase_after`` minutes is the new normal: the baseline then learns at
    full rate. The first ``warmup`` minutes never alarm (the baseline is a
    running mean). A forecast can stand in for the baseline:
    ``update(value, expected=..., lower=..., upper=...)`` judges the minute
    against the forecast interval instead, so a seasonal room's evening peak
    is no spike.
    """

    def __init__(self, *, warmup: int = 30, alpha: float = 0.05, threshold: float = 6.0,
                 drop_threshold: float = 3.5, drop_ratio: float = 0.2, drop_min_level: float = 3.0,
                 drop_minutes: int = 3, cooldown: int = 20, recover_minutes: int = 3, rebase_after: int = 60,
                 clip: float = 3.0, counts: bool = True, min_scale: float = 1.0,
                 unit: str = "messages/min") -> None:
        if warmup < 1 or not 0 < alpha <= 1 or threshold <= 0 or drop_threshold <= 0 or drop_minutes < 1:
            raise ValueError("warmup, alpha, thresholds and drop_minutes must be positive (alpha <= 1)")
        self.warmup, self.alpha, self.threshold = warmup, alpha, threshold
        self.drop_threshold, self.drop_ratio, self.drop_min_level = drop_threshold, drop_ratio, drop_min_level
        self.drop_minutes, self.cooldown, self.recover_minutes = drop_minutes, cooldown, recover_minutes
        self.rebase_after, self.clip, self.counts = rebase_after, clip, counts
        self.min_scale, self.unit = min_scale, unit
        self.seen = 0          # values fed (NaN included)
        self.updates = 0       # values that updated the baseline
        self.level = 0.0
        self._mad = 0.0
        self._low_run = 0
        self._normal_run = 0
        self._episode: str | None = None  # spike | drop while one is going on
        self._episode_len = 0
        self._quiet_until = {"spike": -1, "drop": -1}
        self.last: Anomaly | None = None

    @property
    def scale(self) -> float:
        """The current noise scale (≈ σ) the z-scores divide by."""
        floor = math.sqrt(max(self.level, 0.0)) if self.counts else 0.0
        return max(1.25 * self._mad, floor, self.min_scale)

    @property
    def episode(self) -> str | None:
        """"spike" or "drop" while an anomaly that was noticed is still going on."""
        return self._episode

    def update(self, value: float, ts: float | None = None, *, expected: float | None = None,
               lower: float | None = None, upper: float | None = None, level: float = 0.8) -> Anomaly | None:
        """Feed one minute; returns an `Anomaly` when this minute raises a notice, else None."""
        index = self.seen
        self.seen += 1
        x = float(value)
        if math.isnan(x):
            return None  # a missing minute neither updates the baseline nor alarms
        if self.updates < self.warmup:
            self._learn_warm(x)
            return None
        if expected is not None:
            centre = float(expected)
            if upper is not None and lower is not None and upper > lower:
                scale = max((float(upper) - float(lower)) / (2 * _normal_quantile((1 + level) / 2)),
                            self.min_scale)
            else:
                scale = max(math.sqrt(max(centre, 0.0)) if self.counts else 0.0, self.min_scale)
        else:
            centre, scale = self.level, self.scale
        z = (x - centre) / scale
        high = z >= self.threshold
        low = z <= -self.drop_threshold or (centre >= self.drop_min_level and x <= self.drop_ratio * centre)
        self._low_run = self._low_run + 1 if low else 0
        notice: Anomaly | None = None
        if self._episode is None:
            if high and index > self._quiet_until["spike"]:
                notice = Anomaly("spike", index, ts, x, centre, z,
                                 f"spike: {x:.0f} {self.unit} vs usual {centre:.1f} ± {scale:.1f} (z={z:+.1f})")
            elif self._low_run >= self.drop_minutes and index > self._quiet_until["drop"]:
                notice = Anomaly("drop", index, ts, x, centre, z,
                                 f"drop: {x:.0f} {self.unit} for {self._low_run} min vs usual {centre:.1f} "
                                 f"± {scale:.1f} (z={z:+.1f})")
            if notice is not None:
                self._episode, self._episode_len, self._normal_run = notice.kind, 0, 0
                self._quiet_until[notice.kind] = index + self.cooldown
                self.last = notice
        else:
            self._episode_len += 1
            still = (z >= self.threshold / 2) if self._episode == "spike" else low
            self._normal_run = 0 if still else self._normal_run + 1
            if self._normal_run >= self.recover_minutes:
                self._episode = None
        anomalous = abs(z) >= self.clip or low
        rebased = self._episode is not None and self._episode_len >= self.rebase_after
        self._learn(x, anomalous=anomalous and not rebased)
        return notice

    def _learn_warm(self, x: float) -> None:
        self.updates += 1
        if self.updates == 1:
            self.level = x
            return
        a = max(self.alpha, 1.0 / self.updates)  # a running mean until 1/n falls below alpha
        self._mad += max(self.alpha, 1.0 / (self.updates - 1)) * (abs(x - self.level) - self._mad)
        self.level += a * (x - self.level)

    def _learn(self, x: float, *, anomalous: bool) -> None:
        self.updates += 1
        s = self.scale
        xw = min(max(x, self.level - self.clip * s), self.level + self.clip * s)
        if anomalous:
            self.level += 0.25 * self.alpha * (xw - self.level)
            return
        self._mad += self.alpha * (abs(x - self.level) - self._mad)
        self.level += self.alpha * (x - self.level)


def _normal_quantile(p: float) -> float:
    from scipy.stats import norm

    return float(norm.ppf(p))
