"""The report's two figures, drawn from the tutorial runs (tests/test_learning.py records them).

- loss_curves.png: every implementation's loss per step, log scale.
- trajectory_error.png: per step, how far each run's loss is from the float64 oracle's from the
  same start (solid), and the bound the trajectory family derives for that step (dotted), log scale.

Each implementation keeps one colour in both figures; draw() returns them, so the report can name
them and the tests can find each curve's pixels. Drawn for a few rows only (MOST): beyond that
the curves tangle, and the report's per-row panels (conformance/panels.py) say it row by row.
"""
from pathlib import Path

import numpy as np

STYLES = ("-", "--", ":", "-.")  # runs of one cell give the same curve: styles keep each visible
MOST = 10  # rows drawn on one axes
ZERO = 1e-18  # where an exact match (error 0) is drawn on the log scale


def colours(names) -> dict:
    """A distinct colour per implementation, as '#rrggbb' (tab10, then tab20)."""
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    cmap = colormaps["tab10" if len(names) <= 10 else "tab20"]
    return {n: to_hex(cmap(i % cmap.N)) for i, n in enumerate(names)}


def draw(runs: dict, outdir: Path) -> dict:
    """Write loss_curves.png and trajectory_error.png for runs {name: tutorial run}; return
    {"files": {figure: path}, "colours": {name: '#rrggbb'}}."""
    plt = _pyplot()
    names = list(runs)
    colour = colours(names)
    files = {}

    fig, ax = plt.subplots(figsize=(10, 4.5), dpi=100)
    for i, name in enumerate(names):
        losses = np.asarray(runs[name]["losses"], dtype=float)
        ax.plot(np.arange(losses.size), np.where(losses > 0, losses, np.nan), STYLES[i % len(STYLES)],
                color=colour[name], lw=1.6, label=f"{name} ({runs[name]['dtype']})")
    ax.set(yscale="log", xlabel="step t", ylabel="loss", title="Tutorial runs: loss per step")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
    files["loss_curves"] = _save(fig, outdir / "loss_curves.png")

    fig, ax = plt.subplots(figsize=(10, 4.5), dpi=100)
    for i, name in enumerate(names):
        run = runs[name]
        if run.get("error") is None:
            continue
        steps = np.arange(len(run["error"]))
        ax.plot(steps, np.maximum(run["error"], ZERO), "-", color=colour[name], lw=1.6,
                label=f"{name} ({run['dtype']})")
        ax.plot(steps, np.maximum(run["bound"], ZERO), ":", color=colour[name], lw=0.9, alpha=0.8)
    ax.set(yscale="log", xlabel="step t", ylabel="|loss - oracle loss|",
           title="Distance from the float64 oracle, same start (solid), and the bound rounding allows (dotted)")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
    files["trajectory_error"] = _save(fig, outdir / "trajectory_error.png")
    return {"files": files, "colours": colour}


def _pyplot():
    """matplotlib.pyplot drawing to files only (no screen), imported on first use."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    plt = _pyplot()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def draw_sweep(rows: list, names: list, outdir: Path) -> Path:
    """speed_sweep.png: per step time and GFLOP/s against size, one line per implementation,
    from the report's speed rows of the sweep groups; the peak as a dashed line."""
    plt = _pyplot()
    colour = colours(names)
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5), dpi=100)
    for i, name in enumerate(names):
        mine = sorted((r for r in rows if r["implementation"] == name), key=lambda r: r["size"][0])
        if not mine:
            continue
        size = [r["size"][0] for r in mine]
        style = dict(color=colour[name], ls=STYLES[i % len(STYLES)], marker="o", ms=3, lw=1.4, label=name)
        left.plot(size, [max(r["us_per_step"], 1e-3) for r in mine], **style)
        right.plot(size, [max(r["gflops"], 1e-6) for r in mine], **style)
    peak = rows[0]["peak_gflops"]
    right.axhline(peak, color="#a61b14", ls="--", lw=1)
    right.annotate(f"float32 matmul peak {peak:.0f} GFLOP/s ({rows[0].get('peak_library', '?')}, 1 thread)", (1, peak), xytext=(4, -12),
                   textcoords="offset points", fontsize=8, color="#a61b14")
    left.set(xscale="log", yscale="log", xlabel="N = D_in = H = D_out", ylabel="us per step",
             title="Time per step (flat: overhead; rising: compute)")
    right.set(xscale="log", yscale="log", xlabel="N = D_in = H = D_out", ylabel="GFLOP/s (matrix products)",
              title="Achieved rate")
    for ax in (left, right):
        ax.grid(True, which="major", alpha=0.3)
    right.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
    return _save(fig, outdir / "speed_sweep.png")
