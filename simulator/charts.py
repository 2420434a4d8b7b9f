"""
Charts as inline SVG strings, for the HTML report: line charts over time and a
latency percentile spectrum. Pure functions; no JavaScript, no fetches, so a
report opens offline and renders the same in any browser.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from typing import Final

from .stats import LatencyHistogram

WIDTH: Final = 720
HEIGHT: Final = 230
_LEFT, _RIGHT, _TOP, _BOTTOM = 80, 16, 28, 36
#: Colour-blind-safe (Okabe-Ito).
PALETTE: Final = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9")


@dataclass(frozen=True, slots=True)
class Line:
    """One series of a chart: a label, and points (x, y) in data units."""

    label: str
    points: Sequence[tuple[float, float]]


def nice_ticks(high: float, count: int = 5) -> list[float]:
    """Round tick values from 0 to at least ``high``."""
    if high <= 0:
        return [0.0, 1.0]
    raw = high / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    return [i * step for i in range(math.ceil(high / step + 1e-9) + 1)]


def _fmt(v: float) -> str:
    if v == 0:
        return "0"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if abs(v) >= 10:
        return f"{v:.0f}"
    return f"{v:.3g}"


def line_chart(
    title: str,
    lines: Sequence[Line],
    *,
    x_label: str,
    y_label: str,
    x_ticks: Sequence[tuple[float, str]] | None = None,
    max_gap: float | None = None,
) -> str:
    """
    An SVG line chart; y starts at 0. ``x_ticks`` (value, label) replace the
    default numeric ones (the spectrum's percentile axis). With ``max_gap``, a
    line breaks where two points are further apart than that: no line is
    drawn across a stretch without data.
    """
    xs = [x for line in lines for x, _ in line.points]
    ys = [y for line in lines for _, y in line.points]
    x0, x1 = (min(xs), max(xs)) if xs else (0.0, 1.0)
    if x1 <= x0:
        x1 = x0 + 1
    y_ticks = nice_ticks(max(ys, default=0.0))
    y1 = y_ticks[-1]
    plot_w = WIDTH - _LEFT - _RIGHT
    plot_h = HEIGHT - _TOP - _BOTTOM

    def px(x: float) -> float:
        return _LEFT + (x - x0) / (x1 - x0) * plot_w

    def py(y: float) -> float:
        return _TOP + plot_h - (y / y1 if y1 else 0) * plot_h

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'role="img" aria-label="{escape(title)}">',
        f'<text x="{_LEFT}" y="16" class="t">{escape(title)}</text>',
    ]
    for v in y_ticks:
        y = py(v)
        out.append(
            f'<line x1="{_LEFT}" y1="{y:.1f}" x2="{WIDTH - _RIGHT}" y2="{y:.1f}" '
            f'class="g"/><text x="{_LEFT - 6}" y="{y + 4:.1f}" class="yl">'
            f"{_fmt(v)}</text>"
        )
    ticks = x_ticks or [(v, _fmt(v)) for v in nice_ticks(x1 - x0) if v <= x1 - x0]
    for value, label in ticks:
        vx = value if x_ticks else x0 + value
        if x0 <= vx <= x1:
            x = px(vx)
            out.append(
                f'<text x="{x:.1f}" y="{HEIGHT - _BOTTOM + 16}" class="xl">'
                f"{escape(label)}</text>"
            )
    out.append(
        f'<text x="{_LEFT + plot_w / 2:.0f}" y="{HEIGHT - 4}" class="xl">'
        f"{escape(x_label)}</text>"
        f'<text x="14" y="{_TOP + plot_h / 2:.0f}" class="yt" '
        f'transform="rotate(-90 14 {_TOP + plot_h / 2:.0f})">{escape(y_label)}</text>'
    )
    for i, line in enumerate(lines):
        colour = PALETTE[i % len(PALETTE)]
        for run in _runs(line.points, max_gap):
            if len(run) == 1:
                # A polyline of one point draws nothing: a one-second run, or
                # one second between two gaps, is a dot.
                ((x, y),) = run
                out.append(
                    f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="2.5" '
                    f'fill="{colour}"><title>{escape(line.label)}</title></circle>'
                )
                continue
            path = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in run)
            out.append(
                f'<polyline points="{path}" fill="none" stroke="{colour}" '
                f'stroke-width="1.8"><title>{escape(line.label)}</title></polyline>'
            )
        lx = _LEFT + 8 + i * 150
        out.append(
            f'<rect x="{lx}" y="{_TOP - 2}" width="10" height="3" fill="{colour}"/>'
            f'<text x="{lx + 14}" y="{_TOP + 2}" class="lg">{escape(line.label)}</text>'
        )
    if not xs:
        out.append(
            f'<text x="{_LEFT + plot_w / 2:.0f}" y="{_TOP + plot_h / 2:.0f}" '
            'class="xl">no data</text>'
        )
    out.append("</svg>")
    return "".join(out)


def _runs(
    points: Sequence[tuple[float, float]], max_gap: float | None
) -> list[list[tuple[float, float]]]:
    """The points split where consecutive x are more than ``max_gap`` apart."""
    runs: list[list[tuple[float, float]]] = []
    for point in points:
        if runs and (max_gap is None or point[0] - runs[-1][-1][0] <= max_gap):
            runs[-1].append(point)
        else:
            runs.append([point])
    return runs


def time_chart(
    title: str,
    series: dict[str, dict[int, float]],
    y_label: str,
) -> str:
    """
    Per-second values ({label: {epoch second: value}}) against run time; a
    second a series has no value for is a gap in its line, not a zero.
    """
    seconds = sorted({t for values in series.values() for t in values})
    t0 = seconds[0] if seconds else 0
    lines = [
        Line(label, [(t - t0, values[t]) for t in seconds if t in values])
        for label, values in series.items()
    ]
    return line_chart(
        title, lines, x_label="seconds into the run", y_label=y_label, max_gap=1.0
    )


#: Percentiles marked on the spectrum's axis.
_SPECTRUM_TICKS: Final = (0.0, 90.0, 99.0, 99.9, 99.99, 99.999)


def _nines(p: float) -> float:
    """Position of percentile ``p`` on a 'number of nines' axis."""
    return math.log10(1 / max(1e-6, 1 - p / 100))


def spectrum_points(h: LatencyHistogram) -> list[tuple[float, float]]:
    """(nines position, latency ms) for each bucket's cumulative percentile."""
    points: list[tuple[float, float]] = []
    if not h.total:
        return points
    seen = 0
    for bucket in sorted(h.counts):
        if not points:
            points.append((0.0, bucket / 1000))
        seen += h.counts[bucket]
        points.append((_nines(min(99.9999, 100 * seen / h.total)), bucket / 1000))
    return points


def spectrum_chart(title: str, histograms: dict[str, LatencyHistogram]) -> str:
    """Latency by percentile (HdrHistogram's plot): the tail at a glance."""
    lines = [Line(label, spectrum_points(h)) for label, h in histograms.items()]
    top = max((x for line in lines for x, _ in line.points), default=2.0)
    ticks = [(_nines(p), f"{p:g}%") for p in _SPECTRUM_TICKS if _nines(p) <= top]
    return line_chart(title, lines, x_label="percentile", y_label="ms", x_ticks=ticks)
