"""The speed table's statistics: per-step costs from interleaved rounds, their intervals, rounds
disturbed by other processes, and goals judged only where the intervals allow.

A speed measurement is a series of blocks (tests/test_speed.py). Each block times, back to back,
the implementation's call at 1 step, the floor over the same number of steps as the long call's
extra steps, and the long call of S steps (pytest-benchmark times that one), and notes how much of
the machine other processes used meanwhile. Per block: the per-step cost u = (T_S - T_1) / (S - 1),
the floor's per-step cost f, and their ratio u / f, a ratio of two numbers measured within the
same fraction of a second, so that slow drift of the machine (frequency, cache, a neighbour)
cancels. Each quantity is summarised by the median over the undisturbed blocks, with a
distribution-free confidence interval from order statistics.
"""
import math

import numpy as np

PEAK_SIZE = 2048  # the peak: products of two 2048 x 2048 float32 matrices (17.2 GFLOP each)
GPU_PEAK_SIZE = 8192  # a GPU's: 8192^2 (1.1 TFLOP each; tens of ms where a CPU's size takes under one)
LEVEL = 0.95  # confidence of the intervals
BUSY = 0.25  # a block during which other processes used more than this share of the machine is disturbed
BUSY_ROW = 0.10  # a row whose blocks overall saw more than this share used by others is flagged
OUTLIER = 6.0  # a block whose long call took longer than median + OUTLIER x MAD ...
SLOWER = 0.10  # ... and more than this share longer than the median is disturbed (on a quiet machine the
# MAD is a fraction of a percent, and 6 MADs alone flagged a pass that ran 2-5% slower than the others),
# where its ratio to the floor is as far above its own median: a pass when the whole machine ran 16% slower,
# the floor in its blocks too, is drift that the ratio cancels, not a disturbance
SLOWED = 1.25  # a block whose floor took over this many times its least a step in the run ran on a slowed
# machine: at two cores this host's floor ran at 1.0-1.1x its least or at 1.4-1.7x, for seconds at a time,
# and Python-heavy code meanwhile at up to 2x (the ratio does not cancel that); such blocks are left out
# while they are at most half a row's, and a row with more is flagged, as a busy one is
WIDTH = 0.05  # rounds are added until the ratio's interval is within +-WIDTH of its median ...
MIN_BLOCKS, MAX_BLOCKS = 12, 30  # ... between these many blocks ...
TIME_CAP = 8.0  # ... or this many seconds of blocks after the pilot (per implementation and table)
OVER = 1.10  # a row whose call or floor used more than this many times its budget's cores is flagged, not ranked


def pause_s(cores: int = 1) -> float:
    """The pause before each timed part (speed.settle, the floor's choice): OpenBLAS's threads spin
    for about 0.1 s after a product; at one thread per library no pool has threads of its own."""
    return 0.03 if cores == 1 else 0.12


def median_interval(values, level=LEVEL) -> tuple:
    """(median, low, high): the sample median and a distribution-free confidence interval for the
    population median: order statistics k and n-k+1, with k the largest such that
    P(Binomial(n, 1/2) < k) <= (1 - level) / 2."""
    v = np.sort(np.asarray(values, dtype=float))
    n = v.size
    if n == 0:
        return (math.nan, math.nan, math.nan)
    alpha = (1 - level) / 2
    k, tail = 0, 0.0
    while k < n:
        p = math.comb(n, k) / 2 ** n
        if tail + p > alpha:
            break
        tail += p
        k += 1
    low, high = (v[k - 1], v[n - k]) if k >= 1 else (-math.inf, math.inf)
    return float(np.median(v)), float(low), float(high)


def blocks_needed(ratios, width=WIDTH) -> int:
    """How many blocks bring the median's interval to about +-width of it, from a pilot's
    spread: n ~ (1.96 x 1.2533 x 1.4826 MAD / (width x median))^2 (the median's standard error
    is 1.2533 sigma / sqrt(n), and 1.4826 MAD estimates sigma)."""
    r = np.asarray(ratios, dtype=float)
    med = float(np.median(r))
    mad = float(np.median(np.abs(r - med)))
    if not med > 0:
        return MIN_BLOCKS
    n = (1.96 * 1.2533 * 1.4826 * mad / (width * med)) ** 2
    return int(min(max(math.ceil(n), MIN_BLOCKS), MAX_BLOCKS))


def _slow(values):
    """Which values lie more than OUTLIER MADs and SLOWER above their median."""
    med = float(np.median(values))
    mad = float(np.median(np.abs(values - med))) or 1e-12
    return values > med + max(OUTLIER * mad, SLOWER * abs(med))


def summarize(blocks: list, steps: int, flops_per_step: float, peak_gflops: float, budget: int = 1,
              floor_least=math.inf) -> dict:
    """The speed row of one measurement at a thread budget of `budget` cores: blocks are {"t1",
    "floor", "ts", "busy"} (seconds; the floor over steps - 1 steps; busy: others' share of the
    machine during the block), with "t1_cpu", "ts_cpu", "floor_cpu" (CPU seconds of every thread
    of the timing process) where measured, and "t2s" (the call at 2S steps) in the pilot's: the
    per-step costs (T_2S - T_S) / S, checked against (T_S - T_1) / (S - 1) of the same blocks;
    floor_least: the floor's least seconds a step in the run so far, every row's blocks of it
    (SLOWED)."""
    extra = max(steps - 1, 1)
    slow = _slow(np.array([b["ts"] for b in blocks]))
    slow_ratio = _slow(np.array([(b["ts"] - b["t1"]) / max(b["floor"], 1e-12) for b in blocks]))
    floor_steps = np.array([b["floor"] for b in blocks]) / extra
    slowed = floor_steps > SLOWED * min(floor_steps.min(initial=np.inf), floor_least)
    n_slowed, mostly = int(slowed.sum()), bool(slowed.sum() > len(blocks) / 2)
    if mostly:  # nothing better to keep: all pooled, and the row flagged
        slowed[:] = False
    disturbed = [bool(b["busy"] > BUSY or (s and r and not w)) for b, s, r, w in zip(blocks, slow, slow_ratio, slowed)]
    kept = [b for b, d, w in zip(blocks, disturbed, slowed) if not d and not w] or \
        [b for b, d in zip(blocks, disturbed) if not d] or blocks
    per_step = [(b["ts"] - b["t1"]) / extra for b in kept]
    floor = [b["floor"] / extra for b in kept]
    ratio = [u / f for u, f in zip(per_step, floor)]
    us, us_lo, us_hi = (v * 1e6 for v in median_interval(per_step))
    fl = float(np.median(floor)) * 1e6
    x, x_lo, x_hi = median_interval(ratio)
    busy_share = float(np.mean([b["busy"] for b in blocks]))
    t1 = float(np.median([b["t1"] for b in kept]))
    out = {"us_per_step": us, "us_low": us_lo, "us_high": us_hi, "floor_us": fl,
           "floor_ratio": x, "ratio_low": x_lo, "ratio_high": x_hi,
           "gflops": flops_per_step / (us * 1e-6) / 1e9 if us > 0 else math.nan,
           "per_call_ms": (t1 - us * 1e-6) * 1e3,
           "blocks": len(blocks), "disturbed": sum(disturbed), "slowed": n_slowed, "slowed_row": mostly,
           "busy_share": busy_share, "busy_others": busy_share > BUSY_ROW or sum(disturbed) > len(blocks) / 4}
    out["busy"] = out["busy_others"] or mostly  # either way, not ranked
    out["peak_share"] = out["gflops"] / peak_gflops
    out["rescaled"] = sum(1 for b in blocks if b.get("rescaled"))  # floors timed on a way the floor has since left
    out["rescaled_from"] = sorted({b["rescaled"] for b in blocks if b.get("rescaled")})
    timed_cpu = [b for b in kept if "ts_cpu" in b and "t1_cpu" in b and b["ts"] > b["t1"]]
    out["cores"] = float(np.median([(b["ts_cpu"] - b["t1_cpu"]) / (b["ts"] - b["t1"]) for b in timed_cpu])) \
        if timed_cpu else math.nan
    floors = [b["floor_cpu"] / b["floor"] for b in kept if "floor_cpu" in b and b["floor"] > 0]
    out["floor_cores"] = float(np.median(floors)) if floors else math.nan
    out["over_budget"] = bool(out["cores"] > budget * OVER or out["floor_cores"] > budget * OVER)
    pilots = [b for b, d in zip(blocks, disturbed) if "t2s" in b and not d]
    if pilots:  # both ways from the same blocks, in one state of the machine (SLOWED): not the row's
        u, u_lo, u_hi = (v * 1e6 for v in median_interval([(b["ts"] - b["t1"]) / extra for b in pilots]))
        d, d_lo, d_hi = (v * 1e6 for v in median_interval([(b["t2s"] - b["ts"]) / steps for b in pilots]))
        overlap = math.isfinite(d_lo - d_hi) and d_lo <= u_hi and u_lo <= d_hi  # too few samples: no interval
        out.update(method_us=d, method_low=d_lo, method_high=d_hi,
                   method_agrees=bool(overlap or abs(d - u) <= WIDTH * u))  # apart by less than the width asked for
    return out


def judge(low: float, high: float, goal: float, below: bool = True) -> str:
    """'met', 'not met' or 'cannot tell' for a goal 'value <= goal' (below) or '>= goal', from an interval."""
    if below:
        return "met" if high <= goal else "not met" if low > goal else "cannot tell"
    return "met" if low >= goal else "not met" if high < goal else "cannot tell"
