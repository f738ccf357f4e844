"""What the speed family measures against: the FLOP count of a step, this machine's float32
matmul peak, and the floor (the step's matrix products alone), all measured in the same run.

FLOPs of one training step, counting the matrix products only (the elementwise work, ReLU,
loss and update, is O(N H + D_in H), under 1% at the tutorial's size):
    two_layer: forward x w1, h w2; backward h^T g, g w2^T, x^T grad_h
               = 2 N H (2 D_in + 3 D_out)          (26.0 MFLOP at 64, 1000, 100, 10)
    dynamic at depth k: 2 N H (2 D_in + 3 D_out + 3 k H)   (three products per use of w_mid)
"""
import functools
import os
import time

import numpy as np

from conformance import isolation
from conformance.timing import PEAK_SIZE

# The size sweep: N = D_in = H = D_out = size, and the step count of its longer run (about a
# second of work or more for the slowest implementation, a few steps once a step is 86 GFLOP).
SWEEP = {1: 2000, 16: 2000, 64: 500, 256: 100, 1024: 10, 2048: 4}


def sweep_config(cfg, size: int, steps: int):
    """The implementation's cell at another size. Sum-of-squares cells get lr 1e-12, so that
    nothing overflows at size 2048 (the speed of a run does not depend on where it goes)."""
    return cfg.replace(batch=size, d_in=size, hidden=size, d_out=size, steps=steps, init=None, depths=None,
                       lr=1e-12 if cfg.loss == "sum" else cfg.lr)


def products(n, d_in, h, d_out, depth=0) -> list:
    """The (m, k, n) shape of every matrix product in one step."""
    out = [(n, d_in, h), (n, h, d_out), (h, n, d_out), (n, d_out, h), (d_in, n, h)]
    return out + [(n, h, h), (h, n, h), (n, h, h)] * depth


def step_flops(n, d_in, h, d_out, depth=0) -> float:
    return float(sum(2 * m * k * p for m, k, p in products(n, d_in, h, d_out, depth)))


def run_flops(cfg, x, y, depths=None) -> float:
    """FLOPs of a whole run of cfg on x, y (the dynamic model at the depths the run used)."""
    n, d_in, d_out = x.shape[0], x.shape[1], y.shape[1]
    if depths is None:
        return cfg.steps * step_flops(n, d_in, cfg.hidden, d_out)
    return sum(step_flops(n, d_in, cfg.hidden, d_out, int(k)) for k in depths)


def settle(seconds=0.05):
    """Wait for the thread pools of whatever ran before to go idle. OpenBLAS's threads spin for
    about 0.1 s after a product, and spinning threads of one library slow another's on these 2
    cores: measured, fast_torch's step took 395 us right after NumPy runs and 247 us after a pause."""
    time.sleep(seconds)


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def inside(impl, x, y, cfg) -> float:
    """Seconds a call spends in train, timed in the implementation's worker (no transport)."""
    impl.run(x, y, cfg)
    return impl.seconds


def round_times(fn, rounds: int, inner: int = 1) -> list:
    """Seconds one call of fn takes, one entry per round of inner calls, after a warm-up call
    (first-touch allocations, thread pools)."""
    fn()
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(inner):
            fn()
        times.append((time.perf_counter() - start) / inner)
    return times


class BusyMeter:
    """How much of the machine other processes used between two marks: the system's busy CPU time
    (/proc/stat, steal included) less this process's own and its workers' (/proc/PID/stat), over
    wall time x cores.
    On a quiet machine it stays near 0; a second busy process on these 2 cores shows as about 0.5.
    Where /proc is missing it reads 0 (nothing can be said)."""

    def __init__(self):
        self.cores = os.cpu_count() or 1
        self.last = self._read()

    @staticmethod
    def _read():
        try:
            with open("/proc/stat") as f:
                fields = [int(v) for v in f.readline().split()[1:]]
            with open("/proc/self/stat") as f:
                own = f.read().rsplit(")", 1)[1].split()
        except (OSError, ValueError, IndexError):
            return None
        busy = sum(fields) - fields[3] - (fields[4] if len(fields) > 4 else 0)  # all but idle and iowait
        mine = sum(int(v) for v in own[11:15]) + isolation.cpu_seconds() * os.sysconf("SC_CLK_TCK")  # and its workers
        return time.perf_counter(), busy, mine

    def mark(self) -> float:
        """Others' share of the machine since the last mark (0 to 1)."""
        now, before = self._read(), self.last
        self.last = now
        if now is None or before is None:
            return 0.0
        hz = os.sysconf("SC_CLK_TCK")
        wall = now[0] - before[0]
        others = ((now[1] - before[1]) - (now[2] - before[2])) / hz
        return max(0.0, others / max(wall * self.cores, 1e-9))


class Floor:
    """The floor: the step's matrix products alone, into preallocated outputs, called from Python,
    no elementwise work. run(steps) runs that many steps of products, at the depths the
    implementation's run used in their proportions, so that it is timed exactly the way the
    implementation is: a call of many steps, in the same kind of round, in the same blocks, with
    the same thread settings.

    The library is numpy.dot (OpenBLAS), or torch.mm (MKL) where that is faster by more than
    SWITCH: medians of seven alternating rounds each. Chosen with that margin because a choice
    made by the better of a few tries flipped between runs (fast_numpy's floor: 359 us with NumPy
    in one run, 480 us with torch in the next) and moved the ratio by as much as the flip. One
    floor per shape and depth mix is made in a session (floor()), so every implementation of a
    shape is measured against the same one. mix: the share of steps at each depth (index = depth)."""

    SWITCH = 0.05

    def __init__(self, n, d_in, h, d_out, dtype="float32", mix=(1.0,)):
        torch = warm_torch()
        rng = np.random.default_rng(0)
        candidates = {"numpy": [], "torch": []}
        self.weights = []
        for depth, share in enumerate(mix):
            if not share:
                continue
            pairs = [(rng.standard_normal((m, k)).astype(dtype), rng.standard_normal((k, p)).astype(dtype),
                      np.empty((m, p), dtype=dtype)) for m, k, p in products(n, d_in, h, d_out, depth)]
            tensors = [tuple(torch.from_numpy(a) for a in pair) for pair in pairs]
            candidates["numpy"].append(functools.partial(_numpy_products, pairs))
            candidates["torch"].append(functools.partial(_torch_products, tensors))
            self.weights.append(share)
        times = {lib: [] for lib in candidates}
        for lib, steps in candidates.items():  # warm both up
            for step in steps:
                step()
        for _ in range(7):
            for lib, steps in candidates.items():
                times[lib].append(sum(w * timed(step) for w, step in zip(self.weights, steps)))
        cost = {lib: float(np.median(t)) for lib, t in times.items()}
        self.library = "torch" if cost["torch"] < (1 - self.SWITCH) * cost["numpy"] else "numpy"
        self.steps = candidates[self.library]

    def run(self, steps: int):
        """steps steps of the products, the depths in their proportions."""
        for weight, step in zip(self.weights, self.steps):
            for _ in range(max(1, round(weight * steps))):
                step()


_FLOORS = {}


def floor(n, d_in, h, d_out, dtype="float32", depths=None) -> Floor:
    """The session's floor for this shape, precision and mix of depths (made once)."""
    counts = np.bincount(np.asarray(depths, dtype=int)) if depths is not None and len(depths) else np.ones(1)
    mix = tuple(float(c) for c in counts / counts.sum())
    key = (n, d_in, h, d_out, str(dtype), mix)
    if key not in _FLOORS:
        _FLOORS[key] = Floor(n, d_in, h, d_out, dtype, mix)
    return _FLOORS[key]


def _numpy_products(pairs):
    for a, b, out in pairs:
        np.dot(a, b, out=out)


def _torch_products(tensors):
    import torch

    for a, b, out in tensors:
        torch.mm(a, b, out=out)


def warm_torch():
    """torch for the floor and the peak (the suite's own process: no implementation runs in it)."""
    import torch

    return torch


def peak_gflops(rounds=7) -> float:
    """This machine's float32 matmul rate in GFLOP/s: the best round of torch.mm and numpy.dot
    on 2048 x 2048 matrices, default threads (a peak is what the machine can do, so the best)."""
    torch = warm_torch()
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((PEAK_SIZE, PEAK_SIZE), dtype=np.float32) for _ in range(2))
    out = np.empty((PEAK_SIZE, PEAK_SIZE), dtype=np.float32)
    ta, tb, tout = (torch.from_numpy(m) for m in (a, b, out))
    best = min(*round_times(lambda: torch.mm(ta, tb, out=tout), rounds), *round_times(lambda: np.dot(a, b, out=out), rounds))
    return 2 * PEAK_SIZE ** 3 / best / 1e9


def long_enough(impl, cfg, x, y, target_s=0.3, most=1_000_000):
    """cfg with its step count raised (if need be) until a call takes about target_s seconds, so
    that the steps, not the per-call costs and noise, make up the longer run's time."""
    while cfg.steps < most:
        impl.run(x, y, cfg)  # untimed: a compiled implementation compiles for this length here
        took = inside(impl, x, y, cfg)
        if took >= target_s / 2:
            break
        cfg = cfg.replace(steps=min(most, cfg.steps * max(2, int(target_s / max(took, 1e-6)))))
    return cfg
