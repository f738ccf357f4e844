"""A row's own figure in the HTML report: its tutorial run beside the oracle's, as inline SVG.

Left: its loss per step and the float64 oracle's from the same start. Right: per step, how far
its loss is from the oracle's (solid) and the bound rounding allows there (dotted). Both on log
scales; drawn by hand as SVG so that a class of a hundred rows stays one small file that any
browser shows (a matplotlib figure per row would cost a third of a second and 30 KB each).
"""
import html
import math

WIDTH, HEIGHT = 300, 150  # one panel, in pixels
LEFT, RIGHT, TOP, BOTTOM = 46, 8, 18, 24  # margins for the tick labels
POINTS = 240  # the most points one curve keeps (each bucket's largest value: a spike stays visible)
ZERO = 1e-18  # where an exact match (error 0) is drawn
INK, ORACLE, BOUND, FAIL = "#1f4e9c", "#888888", "#b04a1c", "#a61b14"


def row_svg(run: dict, failed: bool = False) -> str:
    """The two panels of one tutorial run ({'losses', 'oracle', 'error', 'bound'}), side by side."""
    loss = _panel("loss", [("its loss", run.get("losses"), INK, ""), ("oracle", run.get("oracle"), ORACLE, "4 3")])
    error = _panel("|loss - oracle|", [("error", run.get("error"), FAIL if failed else INK, ""),
                                       ("bound", run.get("bound"), BOUND, "2 2")])
    return (f'<svg class="panel" xmlns="http://www.w3.org/2000/svg" width="{2 * WIDTH}" height="{HEIGHT}" '
            f'viewBox="0 0 {2 * WIDTH} {HEIGHT}" role="img">{loss}<g transform="translate({WIDTH},0)">{error}</g></svg>')


def _panel(title: str, curves: list) -> str:
    drawn = [(label, _thinned(values), colour, dash) for label, values, colour, dash in curves if values]
    if not drawn:
        return f'<text x="{LEFT}" y="{HEIGHT / 2}" font-size="11" fill="#666">{html.escape(title)}: no data</text>'
    logs = [math.log10(max(v, ZERO)) for _, values, _, _ in drawn for _, v in values if math.isfinite(v)]
    low, high = (math.floor(min(logs)), math.ceil(max(logs))) if logs else (0, 1)
    high = high if high > low else low + 1
    steps = max(i for _, values, _, _ in drawn for i, _ in values) or 1
    w, h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def xy(i, v):
        y = (math.log10(max(v, ZERO)) - low) / (high - low) if math.isfinite(v) else 1.0
        return f"{LEFT + w * i / steps:.1f},{TOP + h * (1 - min(max(y, 0.0), 1.0)):.1f}"

    parts = [f'<rect x="{LEFT}" y="{TOP}" width="{w}" height="{h}" fill="none" stroke="#ccc"/>',
             f'<text x="{LEFT}" y="12" font-size="11">{html.escape(title)}</text>']
    every = max(1, math.ceil((high - low) / 4))
    for decade in range(low, high + 1, every):
        y = TOP + h * (1 - (decade - low) / (high - low))
        parts.append(f'<line x1="{LEFT}" x2="{LEFT + w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eee"/>'
                     f'<text x="{LEFT - 4}" y="{y + 4:.1f}" font-size="9" text-anchor="end">1e{decade}</text>')
    parts.append(f'<text x="{LEFT}" y="{HEIGHT - 8}" font-size="9">0</text>'
                 f'<text x="{LEFT + w}" y="{HEIGHT - 8}" font-size="9" text-anchor="end">step {steps}</text>')
    for n, (label, values, colour, dash) in enumerate(drawn):
        points = " ".join(xy(i, v) for i, v in values)
        parts.append(f'<polyline class="curve" data-label="{html.escape(label)}" fill="none" stroke="{colour}" '
                     f'stroke-width="1.4"{f" stroke-dasharray={chr(34)}{dash}{chr(34)}" if dash else ""} '
                     f'points="{points}"/>')
        x = LEFT + w - 70 * (len(drawn) - n)
        parts.append(f'<line x1="{x}" x2="{x + 14}" y1="{9}" y2="{9}" stroke="{colour}" stroke-width="1.4"'
                     f'{f" stroke-dasharray={chr(34)}{dash}{chr(34)}" if dash else ""}/>'
                     f'<text x="{x + 17}" y="12" font-size="9">{html.escape(label)}</text>')
    return "".join(parts)


def _thinned(values) -> list:
    """[(step, value)], at most POINTS of them: each bucket's largest finite value (NaN and Inf as
    the top of the panel)."""
    values = [float(v) if v is not None else math.nan for v in values]
    if len(values) <= POINTS:
        return list(enumerate(values))
    size = math.ceil(len(values) / POINTS)
    out = []
    for start in range(0, len(values), size):
        bucket = values[start:start + size]
        finite = [v for v in bucket if math.isfinite(v)]
        out.append((start, max(finite) if len(finite) == len(bucket) else math.inf))
    out[-1] = (len(values) - 1, out[-1][1])  # the axis ends at the last step
    return out
