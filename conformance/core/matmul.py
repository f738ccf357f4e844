"""The floor and the peak as a timing worker runs them (conformance/core/speed.py asks for them):
matrix products in each library installed here, under the worker's thread budget.

The floor of a shape is the step's products alone, called from Python once a step, into
preallocated outputs where the library allows it, on whichever library does them fastest here.
The peak is the best float32 rate of a large square product in any of the libraries.

On a GPU (a device such as "cuda:0") the same, with the libraries that see it (torch, JAX), in
float32 proper (TF32 off: both default to it there for float32 products on recent GPUs), each way
timed from before its first product is queued until its last is done (clock)."""
import importlib.util
import time
from collections import OrderedDict

import numpy as np

from conformance import timing
from conformance.devices import gpu_devices

LIBRARIES = ("numpy", "torch", "tensorflow", "jax")
GPU_LIBRARIES = ("torch", "jax")  # on a GPU: the GPU machines lent here have no TensorFlow to try it with
SWITCH = 0.05  # a library replaces the one before it in LIBRARIES only when its median is this much faster
ROUNDS, ROUND_S = 5, 0.05  # a way's cost: the median of ROUNDS rounds of about ROUND_S seconds of steps each


def installed(device: str = "cpu") -> list:
    """The libraries that can run the products on device (on a GPU: those that see it)."""
    found = [lib for lib in LIBRARIES if importlib.util.find_spec(lib) is not None]
    return found if device == "cpu" else [lib for lib in found if lib in GPU_LIBRARIES and device in gpu_devices({lib})]


def _numpy(pairs, counts, device="cpu"):
    outs = [np.empty((a.shape[0], b.shape[1]), dtype=a.dtype) for a, b in pairs]

    def step_of(k):  # the first k products, their lists made here rather than in every timed step
        mine, done = list(zip(pairs[:k], outs)), outs[:k]

        def step():
            for (a, b), out in mine:
                np.dot(a, b, out=out)
            return done
        return step
    return [step_of(k) for k in counts]


def _torch(pairs, counts, device="cpu"):
    import torch

    if device != "cpu":
        torch.backends.cuda.matmul.allow_tf32 = False  # this worker's own: no implementation runs here
    tensors = [tuple(torch.from_numpy(m).to(device) for m in (a, b, np.empty((a.shape[0], b.shape[1]), a.dtype)))
               for a, b in pairs]  # on the CPU, .to() keeps the NumPy arrays' memory

    def step_of(k):
        mine, done = tensors[:k], [out for _, _, out in tensors[:k]]

        def step():
            for a, b, out in mine:
                torch.mm(a, b, out=out)
            return done
        return step
    return [step_of(k) for k in counts]


def _tensorflow(pairs, counts, device="cpu"):
    import tensorflow as tf

    args = [tf.constant(m) for pair in pairs for m in pair]  # arguments, not captured: no constant folding
    fn = tf.function(lambda *t: [tf.matmul(t[i], t[i + 1]) for i in range(0, len(t), 2)])
    return [lambda mine=args[:2 * k]: fn(*mine) for k in counts]


def _jax(pairs, counts, device="cpu"):
    import jax

    if any(a.dtype == np.float64 for pair in pairs for a in pair):
        jax.config.update("jax_enable_x64", True)  # this worker's own: no implementation runs here
    if device == "cpu":
        args = [jax.device_put(m) for pair in pairs for m in pair]
        fn = jax.jit(lambda *t: [t[i] @ t[i + 1] for i in range(0, len(t), 2)])
        return [lambda mine=args[:2 * k]: jax.block_until_ready(fn(*mine)) for k in counts]
    gpu = jax.devices("gpu")[int(device.partition(":")[2] or 0)]
    args = [jax.device_put(m, gpu) for pair in pairs for m in pair]
    fn = jax.jit(lambda *t: [jax.numpy.matmul(t[i], t[i + 1], precision="highest") for i in range(0, len(t), 2)])
    return [lambda mine=args[:2 * k]: fn(*mine) for k in counts]  # queued: the clock waits for the last


MAKERS = {"numpy": _numpy, "torch": _torch, "tensorflow": _tensorflow, "jax": _jax}  # (pairs, counts) -> a step
# per count, each the first `count` products; the operands made once for all of them


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def clock(lib: str, device: str = "cpu"):
    """How a way's work is timed: fn -> seconds. On the CPU, wall time (every library's products
    are done when they return). On a GPU, from before the first product is queued until the last
    is done: torch's CUDA events (the GPU's own clock), JAX's wall time to its results."""
    if device == "cpu":
        return _timed
    if lib == "torch":
        import torch

        def events(fn) -> float:
            with torch.cuda.device(torch.device(device)):
                torch.cuda.synchronize()  # nothing queued before: the events bracket fn's work alone
                start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                start.record()
                fn()
                end.record()
                end.synchronize()
                return start.elapsed_time(end) / 1e3
        return events
    import jax

    def waited(fn) -> float:
        began = time.perf_counter()
        jax.block_until_ready(fn())
        return time.perf_counter() - began
    return waited


def _threads(lib: str, n: int):
    """Set lib's pool to n threads in this process (NumPy's BLAS, torch); None where it is fixed
    at start-up (TensorFlow, XLA: their pools are the budget's)."""
    if lib == "numpy":
        import threadpoolctl

        controller = threadpoolctl.ThreadpoolController().select(user_api="blas")
        return lambda: [c.set_num_threads(n) for c in controller.lib_controllers]
    if lib == "torch":
        import torch

        return lambda: torch.set_num_threads(n)
    return None


class Floor:
    """The step's products at each depth of a mix (weights: the share of steps at each depth),
    the fastest way this worker's budget allows: each library, and NumPy and torch also at fewer
    threads than the budget's cores (a budget is a most: small products can run faster on one
    thread than on two that wait for each other). The ways take turns, each round after a pause as
    the blocks take one (one library's spinning threads slow another's), and each way's cost is the
    median of ROUNDS rounds of about ROUND_S seconds of steps: rounds of 8 steps, each way's taken
    together, chose NumPy over torch at two cores when torch ran the blocks' floor 1.7x faster.
    choose() may time them again later in the run (as the peak is), each way's least cost kept. A
    way later in the list replaces the best so far only when SWITCH faster."""

    def __init__(self, shapes_by_depth, weights, dtype, cores=1, device="cpu"):
        rng = np.random.default_rng(0)
        # a depth's products are the first of the deepest's (speed.products), as its layers reuse
        # the weights: one set of operands for every depth (one per depth held 7 GiB at 2048)
        deepest = max(shapes_by_depth, key=len)
        if any(list(shapes) != list(deepest[:len(shapes)]) for shapes in shapes_by_depth):
            raise ValueError(f"each depth's products must begin the deepest's: {shapes_by_depth}")
        pairs = [(rng.standard_normal((m, k)).astype(dtype), rng.standard_normal((k, p)).astype(dtype))
                 for m, k, p in deepest]
        counts = [len(shapes) for shapes in shapes_by_depth]
        one = sum(a.nbytes + b.nbytes + a.shape[0] * b.shape[1] * a.itemsize for a, b in pairs)
        self.weights, self.cores = list(weights), cores
        self.costs, self.failed, self.ways, self.checks = {}, {}, {}, 0
        for lib in installed(device):
            try:
                steps = MAKERS[lib](pairs, counts, device)
            except Exception as e:  # noqa: BLE001 - a library that cannot do the products is not a candidate
                self.failed[lib] = f"{type(e).__name__}: {e}"
                continue
            own = _threads(lib, cores) if device == "cpu" else None  # a GPU's products: no pool of ours to size
            for n in sorted({cores, 1}, reverse=True) if own else [cores]:
                self.ways[lib if n == cores else f"{lib} on {n} thread"] = (steps, _threads(lib, n) if own else None,
                                                                            clock(lib, device))
        if not self.ways:
            raise RuntimeError(f"no library here runs products on {device}: {self.failed or 'none sees it'}")
        self.bytes = one * len({way.split(" on ")[0] for way in self.ways})  # each library holds its copy
        self.choose()

    def choose(self):
        """Time every way in turns and take the fastest by each way's least cost so far."""
        one = {}
        pause = timing.pause_s(self.cores)  # the blocks' own: the pools of the way before go idle
        for way, (steps, threads, timed) in self.ways.items():  # warm-up: compiling, first-touch allocations
            if threads:
                threads()
            one[way] = sum(timed(step) for step in steps)
            if one[way] < ROUND_S:  # a step's cost, as the rounds find it: after the pause, not the first
                time.sleep(pause)
                one[way] = min(sum(timed(step) for step in steps) for _ in range(3))
        samples = {way: [] for way in self.ways}
        for _ in range(ROUNDS if max(one.values(), default=0) < ROUND_S else 3):  # at 2048^2 a step takes a second
            for way, (steps, threads, timed) in self.ways.items():
                if threads:
                    threads()
                    if one[way] < ROUND_S:  # the pool re-formed at its thread count, as the blocks find it
                        for step in steps:
                            step()
                time.sleep(pause)
                reps = max(1, int(ROUND_S / max(one[way], 1e-9)))
                samples[way].append(sum(w * timed(lambda: [step() for _ in range(reps)])
                                        for w, step in zip(self.weights, steps)) / reps)
        self.costs = {way: min(float(np.median(v)), self.costs.get(way, np.inf)) for way, v in samples.items()}
        self.checks += 1
        best = next(iter(self.costs))
        for way, cost in self.costs.items():
            if cost < (1 - SWITCH) * self.costs[best]:
                best = way
        self.library, (self.steps, self.threads, self.clock) = best, self.ways[best]

    def run(self, steps: int) -> dict:
        """steps steps of the products, the depths in their proportions: wall and CPU seconds."""
        if self.threads:
            self.threads()

        def steps_of_each_depth():
            out = None
            for weight, step in zip(self.weights, self.steps):
                for _ in range(max(1, round(weight * steps))):
                    out = step()
            return out  # the last products (on a GPU the clock waits for them)
        cpu = time.process_time()
        seconds = self.clock(steps_of_each_depth)
        return {"seconds": seconds, "cpu": time.process_time() - cpu}


def _square(lib, size, device="cpu"):
    """One float32 size x size product in lib, as a call (that waits for its result on the CPU)."""
    a = np.random.default_rng(0).standard_normal((size, size), dtype=np.float32)
    return MAKERS[lib]([(a, a.copy())], [1], device)[0]


def peak(size: int, rounds: int = 5, cores: int = 1, device: str = "cpu") -> dict:
    """GFLOP/s of each library's best round of a float32 size x size product (a peak is what the
    machine can do, so the best) on the budget's threads (or on the GPU `device`), with its CPU use
    in that round; a library that fails says why."""
    out = {}
    for lib in installed(device):
        try:
            threads = _threads(lib, cores) if device == "cpu" else None
            if threads:  # a floor may have left it on fewer
                threads()
            step, timed = _square(lib, size, device), clock(lib, device)
            timed(step)
            best, used = float("inf"), 0.0
            for _ in range(rounds):
                cpu = time.process_time()
                took = timed(step)
                if took < best:
                    best, used = took, (time.process_time() - cpu) / took
            out[lib] = {"gflops": 2 * size ** 3 / best / 1e9, "cores": used}
        except Exception as e:  # noqa: BLE001 - said in the table's header, not fatal
            out[lib] = {"error": f"{type(e).__name__}: {e}"}
    return out


_FLOORS = OrderedDict()  # key -> Floor, least recently used first
KEEP_BYTES = 1 << 30  # the most the floors of other shapes may hold while a new one is made


def op_floor(msg) -> dict:
    """Make (first time), choose again (msg's "choose") and run a floor: msg has key, shapes by
    depth, weights, dtype, steps. Before a new one is made, the least recently used are let go
    while the others hold over KEEP_BYTES (a sweep's floors at 2048 filled the machine); one
    asked for again is made again, and says so by its reply's checks."""
    key = msg["key"]
    if key in _FLOORS:
        _FLOORS.move_to_end(key)
    else:
        while _FLOORS and sum(f.bytes for f in _FLOORS.values()) > KEEP_BYTES:
            _FLOORS.popitem(last=False)
        _FLOORS[key] = Floor([[tuple(s) for s in shapes] for shapes in msg["shapes"]], msg["weights"], msg["dtype"],
                             int(msg.get("cores") or 1), msg.get("device", "cpu"))
    floor = _FLOORS[key]
    if msg.get("choose"):
        floor.choose()
    out = floor.run(int(msg["steps"])) if msg.get("steps") else {}
    return {**out, "library": floor.library, "costs": floor.costs, "failed": floor.failed, "checks": floor.checks}


def op_peak(msg) -> dict:
    from conformance import budgets

    device = msg.get("device", "cpu")
    rates = peak(int(msg["size"]), cores=int(msg.get("cores") or 1), device=device)
    return {"rates": rates, "blas": budgets.blas() if device == "cpu" else [], "gpu": gpu_name(device)}


def gpu_name(device: str) -> str:
    """The GPU's name as torch gives it ('' on the CPU, or where torch does not see it)."""
    if device == "cpu" or device not in gpu_devices({"torch"}):
        return ""
    import torch

    return torch.cuda.get_device_name(device)
