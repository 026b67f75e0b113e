"""Clock time and the light cycle: what an hour of a recording was for the mice.

LMT timestamps are absolute (epoch milliseconds), so the clock time of an interval is its start
and end in the animal facility's time zone, and its light phase follows the facility's light
timer. A :class:`LightSchedule` holds both (lights-on and lights-off clock times and the time
zone); it is read from the ``[light]`` table of a cage layout file
(:func:`napari_mousestop.io.layout.load_layout`)::

    [light]
    on = "07:00"              # lights on (local clock time)
    off = "19:00"             # lights off
    timezone = "Europe/Paris" # the facility's time zone (IANA name); default UTC
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from napari_mousestop.errors import LayoutError

_CLOCK = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*$")


def clock_minutes(text: str, what: str = "time") -> int:
    """Minutes after midnight of a clock time ``"HH:MM"`` (00:00 to 23:59).

    Raises
    ------
    ValueError
        ``"<what> must be a clock time HH:MM, got ..."`` for anything else.
    """
    match = _CLOCK.match(str(text))
    if not match or int(match.group(1)) > 23 or int(match.group(2)) > 59:
        raise ValueError(f"{what} must be a clock time HH:MM, got {text!r}")
    return int(match.group(1)) * 60 + int(match.group(2))


def check_timezone(zone: str) -> str:
    """``zone`` if it is a time zone pandas knows (an IANA name such as ``"Europe/Paris"``).

    Raises
    ------
    ValueError
        ``"unknown time zone ..."`` otherwise.
    """
    try:
        pd.Timestamp("2000-01-01", tz=zone)
    except Exception:
        raise ValueError(f"unknown time zone {zone!r}") from None
    return zone


def hhmm(minutes: int) -> str:
    """``"07:05"`` for 425 minutes after midnight."""
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _timestamp(value: pd.Timestamp | str) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts


@dataclass(frozen=True)
class LightSchedule:
    """The facility's light cycle: lights on and off at fixed clock times, every day.

    Parameters
    ----------
    on, off
        Clock times ``"HH:MM"`` at which the lights go on and off (local time). ``off`` may be
        earlier than ``on`` (lights on over midnight).
    timezone
        IANA time zone of the light timer (``"Europe/Paris"``); clock times of recordings are
        shown in it.
    """

    on: str = "07:00"
    off: str = "19:00"
    timezone: str = "UTC"

    def __post_init__(self) -> None:
        try:
            on, off = clock_minutes(self.on, "light 'on'"), clock_minutes(self.off, "light 'off'")
            check_timezone(self.timezone)
        except ValueError as exc:
            raise LayoutError(f"{exc} in [light]") from None
        if on == off:
            raise LayoutError(f"light 'on' and 'off' must differ, both are {self.on!r}")
        object.__setattr__(self, "on", hhmm(on))
        object.__setattr__(self, "off", hhmm(off))

    @classmethod
    def from_dict(cls, d: dict, where: str = "layout") -> LightSchedule:
        """Build from a ``[light]`` table (``on``, ``off``, optional ``timezone``)."""
        if not isinstance(d, dict) or not {"on", "off"} <= set(d):
            raise LayoutError(f"{where}: [light] needs on and off clock times (HH:MM)")
        unknown = set(d) - {"on", "off", "timezone"}
        if unknown:
            raise LayoutError(f"{where}: [light] has unknown keys {sorted(unknown)}")
        try:
            return cls(str(d["on"]), str(d["off"]), str(d.get("timezone", "UTC")))
        except LayoutError as exc:
            raise LayoutError(f"{where}: {exc}") from None

    def to_dict(self) -> dict:
        """The ``[light]`` table of a layout file."""
        return {"on": self.on, "off": self.off, "timezone": self.timezone}

    def light_periods(self, start: pd.Timestamp, end: pd.Timestamp) -> list[tuple]:
        """Light periods ``(from, to)`` (aware timestamps) overlapping ``[start, end)``."""
        start, end = _timestamp(start), _timestamp(end)
        local = start.tz_convert(self.timezone)
        on, off = clock_minutes(self.on), clock_minutes(self.off)
        periods = []
        day = local.normalize().tz_localize(None) - pd.Timedelta(days=1)
        last = end.tz_convert(self.timezone).normalize().tz_localize(None) + pd.Timedelta(days=1)
        while day <= last:
            lo = day + pd.Timedelta(minutes=on)
            hi = day + pd.Timedelta(minutes=off if off > on else off + 24 * 60)
            lo = lo.tz_localize(self.timezone, nonexistent="shift_forward", ambiguous=False)
            hi = hi.tz_localize(self.timezone, nonexistent="shift_forward", ambiguous=False)
            if hi > start and lo < end:
                periods.append((lo, hi))
            day += pd.Timedelta(days=1)
        return periods

    def light_fraction(self, start: pd.Timestamp | str, end: pd.Timestamp | str) -> float:
        """Fraction of ``[start, end)`` during which the lights were on."""
        start, end = _timestamp(start), _timestamp(end)
        total = (end - start).total_seconds()
        if total <= 0:
            raise ValueError(f"empty interval {start} .. {end}")
        lit = sum(
            (min(hi, end) - max(lo, start)).total_seconds()
            for lo, hi in self.light_periods(start, end)
        )
        return min(max(lit / total, 0.0), 1.0)

    def phase(self, start: pd.Timestamp | str, end: pd.Timestamp | str) -> str:
        """``"light"``, ``"dark"``, or the switch inside the interval (``"lights off 19:00"``)."""
        frac = self.light_fraction(start, end)
        if frac >= 1.0:
            return "light"
        if frac <= 0.0:
            return "dark"
        lit_at_start = self.light_fraction(start, _timestamp(start) + pd.Timedelta(seconds=1))
        return f"lights off {self.off}" if lit_at_start > 0.5 else f"lights on {self.on}"


def clock_span(start: pd.Timestamp | str, end: pd.Timestamp | str, timezone: str = "UTC") -> str:
    """``"23:00–24:00"``: an interval's start and end on the clock of ``timezone``.

    An end at midnight reads ``24:00``; seconds are shown only when not zero.
    """
    lo = _timestamp(start).tz_convert(timezone)
    hi = _timestamp(end).tz_convert(timezone)

    def fmt(ts: pd.Timestamp, is_end: bool) -> str:
        if is_end and ts.hour == 0 and ts.minute == 0 and ts.second == 0 and hi > lo:
            return "24:00"
        return ts.strftime("%H:%M:%S" if ts.second else "%H:%M")

    return f"{fmt(lo, False)}\u2013{fmt(hi, True)}"


@dataclass(frozen=True)
class IntervalClock:
    """Clock times of a stack's intervals: where interval ``t`` lies on the facility's clock.

    Parameters
    ----------
    origin
        Start of interval 0 (aware timestamp; the stack's origin, see
        :func:`napari_mousestop.histograms.stack_origin`).
    interval_s
        Interval length in seconds.
    timezone
        Time zone the clock is read in.
    schedule
        Light cycle (None: no light phase is given).
    """

    origin: pd.Timestamp
    interval_s: float = 3600.0
    timezone: str = "UTC"
    schedule: LightSchedule | None = None

    def to_dict(self) -> dict:
        """JSON-friendly form (kept in napari layer metadata)."""
        return {
            "origin": _timestamp(self.origin).isoformat(),
            "interval_s": float(self.interval_s),
            "timezone": self.timezone,
            "light": self.schedule.to_dict() if self.schedule is not None else None,
        }

    @classmethod
    def from_dict(cls, d: dict) -> IntervalClock:
        """Inverse of :meth:`to_dict`."""
        light = d.get("light")
        return cls(
            _timestamp(d["origin"]),
            float(d["interval_s"]),
            str(d["timezone"]),
            LightSchedule(**light) if light else None,
        )

    def bounds(self, t: int) -> tuple[pd.Timestamp, pd.Timestamp]:
        """Start and end of interval ``t``."""
        start = _timestamp(self.origin) + pd.Timedelta(seconds=float(t) * self.interval_s)
        return start, start + pd.Timedelta(seconds=self.interval_s)

    def day(self, t: int) -> int:
        """Day of the recording (1 = the day interval 0 starts, on the local clock)."""
        first = _timestamp(self.origin).tz_convert(self.timezone).normalize()
        here = self.bounds(t)[0].tz_convert(self.timezone).normalize()
        return int(round((here.tz_localize(None) - first.tz_localize(None)).days)) + 1

    def text(self, t: int) -> str:
        """``"day 1, 23:00–24:00, dark"`` (the phase only with a schedule)."""
        start, end = self.bounds(t)
        parts = [f"day {self.day(t)}", clock_span(start, end, self.timezone)]
        if self.schedule is not None:
            parts.append(self.schedule.phase(start, end))
        return ", ".join(parts)

    def light_fractions(self, n: int) -> list[float] | None:
        """Fraction of light in each of the first ``n`` intervals (None without a schedule)."""
        if self.schedule is None:
            return None
        return [self.schedule.light_fraction(*self.bounds(t)) for t in range(n)]


def hour_text(t: int, interval_h: float, clocks: Sequence[IntervalClock | None]) -> str:
    """What the hour slider's position means: ``"hour 5, day 1, 23:00–24:00, dark"``.

    Parameters
    ----------
    t
        Interval index (slider step).
    interval_h
        Interval length in hours.
    clocks
        The clock of every recording shown (None where unknown). When they all read the same
        clock time the text gives it; otherwise it says that the clock differs between
        recordings (each tile's own clock is in its hover text).
    """
    head = f"hour {t * interval_h:g}"
    texts = {c.text(t) if c is not None else None for c in clocks}
    if not texts or texts == {None}:
        return head
    if len(texts) == 1:
        return f"{head}, {texts.pop()}"
    return f"{head} (clock time differs between recordings: hover a tile)"
