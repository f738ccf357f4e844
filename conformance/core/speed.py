"""What the speed family measures against: the FLOP count of a step, this machine's float32
matmul peak, and the floor (the step's matrix products alone), all measured in the same run.

FLOPs of one training step, counting the matrix products only (the elementwise work, ReLU,
loss and update, is O(N H + D_in H), under 1% at the tutorial's size):
    two_layer: forward x w1, h w2; backward h^T g, g w2^T, x^T grad_h
               = 2 N H (2 D_in + 3 D_out)          (26.0 MFLOP at 64, 1000, 100, 10)
    dynamic at depth k: 2 N H (2 D_in + 3 D_out + 3 k H)   (three products per use of w_mid)
"""
import math
import os
import time

import numpy as np

from conformance import budgets, isolation, timing
from conformance.timing import GPU_PEAK_SIZE, PEAK_SIZE

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


POLL_S = 0.005  # how often settle looks at the workers that ran ...
IDLE = 0.25  # ... until their threads used under this share of one core over a poll


def settle(cores=1):
    """Wait for the thread pools of whatever ran before to go idle. OpenBLAS's threads spin for
    about 0.1 s after a product, and spinning threads of one library slow another's on these 2
    cores: measured, fast_torch's step took 395 us right after NumPy runs and 247 us after a pause.
    The wait ends once the workers that answered since the last one have used under IDLE of a core
    over a poll (torch's and TensorFlow's pools sleep within 5-15 ms, OpenBLAS's after 0.1 s), and
    lasts timing.pause_s(cores) at most; all of it where /proc cannot tell."""
    end = time.perf_counter() + timing.pause_s(cores)
    pids = set(isolation.ANSWERED)
    isolation.ANSWERED.clear()
    last = _cpu_ns(pids)
    while last is not None and time.perf_counter() + POLL_S < end:
        time.sleep(POLL_S)
        now = _cpu_ns(pids)
        if now is not None and now - last < IDLE * POLL_S * 1e9:
            return
        last = now
    time.sleep(max(0.0, end - time.perf_counter()))


def _cpu_ns(pids):
    """Nanoseconds on a CPU so far of every thread of these processes (one that has ended adds
    nothing); None without /proc."""
    if not os.path.isdir("/proc/self/task"):
        return None
    total = 0
    for pid in pids:
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{pid}/task/{task}/schedstat") as f:
                    total += int(f.read().split()[0])
            except (OSError, ValueError, IndexError):
                pass
    return total


def inside(impl, x, y, cfg, cores=None) -> dict:
    """{'seconds', 'cpu'} a call spends in train, timed in the implementation's worker held to the
    budget (no transport)."""
    impl.run(x, y, cfg, cores=cores)
    return {"seconds": impl.seconds, "cpu": impl.cpu_seconds}


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


_WORKERS = {}  # cores -> the worker that runs the floors and the peak at that budget


def _worker(cores: int):
    """The timing worker of a budget: held to it exactly as an implementation's is, so that the
    floor is timed the way the implementation is (inside a worker, on the same pinned cores)."""
    w = _WORKERS.get(cores)
    if w is None or not w.alive():
        w = _WORKERS[cores] = isolation.Worker(cores=cores)
    return w


class Floor:
    """The floor: the step's matrix products alone, called from Python once a step, at the depths
    the implementation's run used in their proportions, on the fastest library at the budget
    (conformance/core/matmul.py chooses it in the budget's worker). run(steps) times that many steps
    there, wall and CPU time: the same kind of call as the implementation's, in the same blocks."""

    def __init__(self, n, d_in, h, d_out, dtype, mix, cores, device="cpu"):
        self.cores, self._least = cores, {}
        depths = [d for d, share in enumerate(mix) if share]
        self.msg = {"op": "floor", "key": repr((n, d_in, h, d_out, str(dtype), mix, device)), "dtype": str(dtype),
                    "cores": cores, "device": device, "weights": [mix[d] for d in depths],
                    "shapes": [products(n, d_in, h, d_out, d) for d in depths]}
        self._update(_worker(cores).request(self.msg, "making the floor", timeout=600))

    def _update(self, made):
        self.library, self.costs, self.failed, self.checks = made["library"], made["costs"], made["failed"], made["checks"]

    def least(self) -> float:
        """The least seconds a step of the floor's way in any block of the run so far (every row
        of this floor's): what the blocks' floors are held to (timing.SLOWED)."""
        return self._least.get(self.library, math.inf)

    def choose(self, times: int) -> None:
        """Time the ways again until they have been timed `times` times in the run (before the
        last pass, as the peak is): the way is the fastest by each way's least cost."""
        while self.checks < times:
            self._update(_worker(self.cores).request({**self.msg, "choose": True}, "choosing the floor", timeout=600))

    def run(self, steps: int) -> dict:
        """{'seconds', 'cpu', 'way'} of steps steps of the products, timed in the budget's worker
        (which makes the floor again where it let it go: its way is the reply's)."""
        got = _worker(self.cores).request({**self.msg, "steps": int(steps)}, "the floor")
        self._update(got)
        self._least[self.library] = min(self._least.get(self.library, math.inf), got["seconds"] / max(int(steps), 1))
        return {**got, "way": self.library}

    def on_final_way(self, blocks: list) -> list:
        """blocks with each floor timed on another way (before the floor was chosen again) put on
        the floor's way now: scaled by the two ways' costs, measured in the same interleaved rounds."""
        out = []
        for b in blocks:
            way = b.get("floor_way", self.library)
            scale = self.costs[self.library] / self.costs[way] if way != self.library and way in self.costs else 1.0
            out.append({**b, "floor": b["floor"] * scale, "floor_cpu": b.get("floor_cpu", 0.0) * scale,
                        "floor_way": self.library, "rescaled": way if way != self.library else None})
        return out


_FLOORS = {}


def floor(n, d_in, h, d_out, dtype="float32", depths=None, cores=1, device="cpu") -> Floor:
    """The session's floor for this shape, precision, mix of depths, budget and device (made once)."""
    counts = np.bincount(np.asarray(depths, dtype=int)) if depths is not None and len(depths) else np.ones(1)
    mix = tuple(float(c) for c in counts / counts.sum())
    key = (n, d_in, h, d_out, str(dtype), mix, cores, device)
    if key not in _FLOORS:
        _FLOORS[key] = Floor(n, d_in, h, d_out, dtype, mix, cores, device)
    return _FLOORS[key]


_PEAKS = {}


PEAK_TIMES = 4  # the most times a run measures a budget's peak again for rates above it


def peak(cores: int, times: int = 1, above: float = 0.0, device: str = "cpu") -> dict:
    """This machine's float32 matmul peak at a budget: the best rate of a PEAK_SIZE^2 product in
    any library installed (a peak is what the machine can do), each timed in the budget's worker,
    measured `times` times in the run at least, each library's best kept (a core slowed for a
    minute by a neighbour once gave a one-thread peak of 106 GFLOP/s against 158 in the runs
    around it, and a row 74% of it), and again while a row's rate `above` it tops it, up to
    PEAK_TIMES in all (a peak taken while the machine ran 8% slow once stood under rows timed 40
    minutes later). On a GPU `device`, its own: products of GPU_PEAK_SIZE^2 there, from a
    worker at the budget. {'gflops', 'library', 'rates' {library: GFLOP/s}, 'times', 'size',
    'gpu' (its name), 'blas' (threadpoolctl's view of the BLAS libraries, with the kernel each
    runs), 'forced' (environment settings that force a BLAS kernel), 'unforced' (NumPy's rate
    without them, where they are set: what they cost)}."""
    def wanted(known):
        return known.get("times", 0) < times or (known.get("gflops", 0.0) < above and known.get("times", 0) < PEAK_TIMES)

    key, size = budgets.table(cores, device), PEAK_SIZE if device == "cpu" else GPU_PEAK_SIZE
    while wanted(_PEAKS.get(key, {})):
        got = _worker(cores).request({"op": "peak", "size": size, "cores": cores, "device": device},
                                     "measuring the peak", timeout=600)
        before = _PEAKS.get(key, {"rates": {}, "errors": {}, "times": 0})
        rates = dict(before["rates"])
        for lib, r in got["rates"].items():
            if "gflops" in r:
                rates[lib] = max(r["gflops"], rates.get(lib, 0.0))
        best = max(rates, key=rates.get) if rates else ""
        out = {"gflops": rates.get(best, float("nan")), "library": best, "rates": rates, "blas": got["blas"],
               "errors": {**before["errors"], **{lib: r["error"] for lib, r in got["rates"].items() if "error" in r}},
               "forced": budgets.forced() if device == "cpu" else {}, "unforced": before.get("unforced"),
               "times": before["times"] + 1, "size": size, "gpu": got.get("gpu", "")}
        if out["forced"] and out["unforced"] is None:
            out["unforced"] = unforced_numpy(cores)
        _PEAKS[key] = out
    return _PEAKS[key]


UNFORCED = """
import json, time, numpy as np, threadpoolctl
a = np.random.default_rng(0).standard_normal(({n}, {n}), dtype=np.float32); out = np.empty_like(a)
np.dot(a, a, out=out); best = float("inf")
for _ in range(5):
    t = time.perf_counter(); np.dot(a, a, out=out); best = min(best, time.perf_counter() - t)
arch = [i.get("architecture") for i in threadpoolctl.threadpool_info() if i.get("user_api") == "blas"]
print(json.dumps({{"gflops": 2 * {n} ** 3 / best / 1e9, "architecture": arch[0] if arch else None}}))
"""


def unforced_numpy(cores: int):
    """NumPy's peak rate at the budget in a fresh interpreter without the environment's forced BLAS
    kernel: only to say what forcing it costs (every timing keeps the environment as it is)."""
    import json
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in budgets.FORCED}
    env.update(budgets.env(cores))
    cpus = budgets.allowed()[-cores:]
    try:
        proc = subprocess.run([sys.executable, "-c", UNFORCED.format(n=PEAK_SIZE)], env=env, capture_output=True,
                              text=True, timeout=120, preexec_fn=lambda: os.sched_setaffinity(0, cpus))
        return json.loads(proc.stdout.strip().splitlines()[-1])
    except (OSError, ValueError, IndexError, subprocess.SubprocessError, AttributeError):
        return None


CALL_S = 0.3  # a timed call's length: its cell's steps, or fewer where they take longer than this
LEAST_STEPS = 100  # fewer, and a per-call cost of 0.1 s (tf_graph's Session) swamps the steps


def short_enough(impl, cfg, x, y, cores, target_s=CALL_S):
    """cfg with its step count lowered (if need be, to a multiple of 50, at least LEAST_STEPS) so
    that a call takes about target_s: the per-step cost does not depend on the step count (each row
    checks it against twice the steps), and a slow implementation's 500 steps take 1-2 s a block."""
    t1 = inside(impl, x, y, cfg.replace(steps=1), cores)["seconds"]
    ts = inside(impl, x, y, cfg, cores)["seconds"]
    per_step = max(ts - t1, 1e-9) / max(cfg.steps - 1, 1)
    steps = max(LEAST_STEPS, int(target_s / per_step) // 50 * 50)
    return cfg.replace(steps=steps) if steps < cfg.steps else cfg


def long_enough(impl, cfg, x, y, cores, target_s=CALL_S, most=1_000_000):
    """cfg with its step count raised (if need be) until a call takes about target_s seconds, so
    that the steps, not the per-call costs and noise, make up the longer run's time."""
    while cfg.steps < most:
        impl.run(x, y, cfg, cores=cores)  # untimed: a compiled implementation compiles for this length here
        took = inside(impl, x, y, cfg, cores)["seconds"]
        if took >= target_s / 2:
            break
        cfg = cfg.replace(steps=min(most, cfg.steps * max(2, int(target_s / max(took, 1e-6)))))
    return cfg
