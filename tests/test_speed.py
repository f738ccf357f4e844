"""Speed: pytest-benchmark times each implementation's tutorial cell (`--benchmark-only`), in two
tables: one thread per library (the repeatable one) and all the cores the suite may use.

At each budget the implementation runs in a worker held to it (pinned to that many CPUs, every
library's pool sized to match: conformance/budgets.py), and the floor (the step's products alone,
on the fastest library at that budget) and the peak (the best float32 rate of a large product in
any library) are timed in another worker held the same way (conformance/core/speed.py).

Every timing is taken in blocks (conformance/timing.py): each block runs, in alternating order, the
call at 1 step and the floor for S - 1 steps, then pytest-benchmark times the call at S steps (the
cell's, or fewer where they take over speed.CALL_S); wall and CPU time are read inside the workers
(no transport in them), and a meter notes how much of the machine other processes used. A pilot of
six such blocks, each also timing the call at 2S steps (to check the per-step cost against
(T_2S - T_S)/S), sizes the measurement: enough blocks for the x-floor ratio's interval to
be about +-5% wide, within timing.TIME_CAP seconds.

A cell's blocks come from PASSES passes spread over the run (every implementation's first pass at
each budget, then every one's second ...; the plugin orders them), and its row pools them: the
machine drifts over minutes in a way the floor, measured in the same blocks, does not cancel for
code with much per-step Python work (docs/speed.md).

`--benchmark-sweep` adds the same measurement, in one pass, at sizes N = D_in = H = D_out = 1 ...
2048 (conformance/core/speed.py's SWEEP), for the figure speed_sweep.png.

Where an implementation's framework sees a GPU, a third table: the same measurement with
cfg.device on that GPU, its timing processes on all the suite's cores, the floor the step's
products on the GPU (CUDA events time torch's) and the peak the GPU's own float32 products.
"""
from dataclasses import dataclass, field

import pytest

from conformance import budgets, timing
from conformance.data import make_data
from conformance.results import Prop
from conformance.core import speed

pytestmark = pytest.mark.speed
PILOT = 6
PASSES = 3  # a tutorial cell's blocks come from this many passes, spread over the run
BUDGETS = budgets.budgets()
GPU_HOST = budgets.gpu_host()


@dataclass
class Measurement:
    """What a cell's first pass set up and every pass measured so far, at one thread budget."""

    x: object
    y: object
    short: object
    floor: object
    depths: object
    first: float
    cores: int
    cfg: object = None  # the call timed: the cell's, or with fewer steps (speed.short_enough)
    rounds: int = 0  # per pass
    blocks: list = field(default_factory=list)
    passes: int = 0
    worker: object = None  # the timing worker of the last pass

    def untimed(self, impl, extra: int, reverse: bool) -> dict:
        """A block's untimed part: the 1-step call and the floor over `extra` steps, in alternating
        order, then a pause."""
        calls = [("t1", lambda: speed.inside(impl, self.x, self.y, self.short, self.cores)),
                 ("floor", lambda: self.floor.run(extra))]
        out = {}
        for i, (k, fn) in enumerate(calls[::-1] if reverse else calls):
            got = fn()
            out[k], out[k + "_cpu"] = got["seconds"], got["cpu"]
            if "way" in got:
                out["floor_way"] = got["way"]
            if i or self.cores > 1:  # at more than one thread, one worker's pools spin while the other's run
                speed.settle(self.cores)
        return out


_MEASURED = {}  # (group, cores, device, implementation) -> Measurement


def measure(impl, cfg, benchmark, record_property, group, cores, passes=1):
    """One of `passes` passes of the measurement of impl's call of cfg at a thread budget; its row
    pools every pass so far."""
    device = cfg.device
    key = (group, cores, device, impl.name)
    m = _MEASURED.get(key)
    if m is None:
        m = _MEASURED[key] = start(impl, cfg, passes, cores)
    timed = m.cfg  # cfg, or the same with fewer steps (speed.short_enough)
    meter, blocks, block = speed.BusyMeter(), [], {}

    def setup():  # untimed by pytest-benchmark: the block's 1-step call and floor, then a pause
        speed.settle(cores)
        meter.mark()
        block.clear()
        block.update(m.untimed(impl, max(timed.steps - 1, 1), reverse=len(blocks) % 2 == 1))

    def teardown(*_, **__):
        block["busy"] = meter.mark()
        block["ts"], block["ts_cpu"] = impl.seconds, impl.cpu_seconds  # timed in its worker: no transport
        blocks.append(dict(block))

    if passes > 1 and m.passes == passes - 1:
        speed.peak(cores, times=2, device=device)  # again before the last pass, which gives every row: the best of both
        m.floor.choose(times=2)  # and the floor's way, each way's least cost of both
    worker = impl.worker(cores)
    warm = 0 if worker is m.worker else 1  # a new worker (another pass's was stopped) compiles on its first call
    m.worker = worker
    table = budgets.table(cores, device)
    benchmark.group = f"{group}, {budgets.table_name(table)}"
    benchmark.pedantic(impl.run, args=(m.x, m.y, timed), kwargs={"cores": cores}, setup=setup, teardown=teardown,
                       rounds=m.rounds, iterations=1, warmup_rounds=warm)
    blocks = blocks[warm:]  # the warm-up round's
    m.blocks.extend(blocks)
    m.passes += 1
    flops = speed.run_flops(timed, m.x, m.y, m.depths) / timed.steps
    row = timing.summarize(m.floor.on_final_way(m.blocks), timed.steps, flops,
                           speed.peak(cores, device=device)["gflops"], cores, floor_least=m.floor.least())
    peak = speed.peak(cores, above=row["gflops"], device=device)  # a row above the peak: the peak measured again
    row["peak_share"] = row["gflops"] / peak["gflops"]
    full = (row["per_call_ms"] * 1e-3 + cfg.steps * row["us_per_step"] * 1e-6)  # a warm call of cfg's steps
    row.update({"steps": timed.steps, "cell_steps": cfg.steps, "first_call_s": m.first,
                "one_time_s": max(0.0, m.first - full), "passes": m.passes,  # below 0 is noise
                "peak_gflops": peak["gflops"], "peak_library": peak["library"], "budget": cores,
                "device": device, "table": table,
                "size": [m.x.shape[0], m.x.shape[1], cfg.hidden, m.y.shape[1]], "dtype": cfg.dtype,
                "group": group, "floor_library": m.floor.library, "floor_checks": m.floor.checks,
                "extra_steps": max(timed.steps - 1, 1)})
    benchmark.extra_info.update(row)
    record_property(Prop.SPEED, row)
    record_property(Prop.SPEED_BUDGET, {"table": table, "cores": cores, **peak, "floor_costs": m.floor.costs})


def start(impl, cfg, passes, cores) -> Measurement:
    """The first call (its one-time cost), the floor, and a pilot of PILOT blocks that decides how
    many blocks each pass takes and checks the per-step method: each pilot block also times the
    call at 2S steps, for the per-step cost (T_2S - T_S) / S beside (T_S - T_1) / (S - 1)."""
    x, y = make_data(cfg, 0)
    speed.peak(cores, device=cfg.device)  # first: in a worker whose floors have not run yet (once a run)
    res = impl.run(x, y, cfg, cores=cores)  # the first call: imports, compiling, tracing; not in the statistics
    first = impl.seconds
    timed = speed.short_enough(impl, cfg, x, y, cores)  # a 1-step call may compile a program of its own
    if timed.steps != cfg.steps:
        res = impl.run(x, y, timed, cores=cores)  # ... and so may a shorter one; its depths are the floor's
    floor = speed.floor(x.shape[0], x.shape[1], cfg.hidden, y.shape[1], cfg.dtype, res.get("depths"), cores,
                        cfg.device)
    short, double = cfg.replace(steps=1), timed.replace(steps=2 * timed.steps)
    impl.run(x, y, double, cores=cores)  # ... and so may a 2S-step one
    m = Measurement(x, y, short, floor, res.get("depths"), first, cores, cfg=timed, worker=impl.worker(cores))
    meter, pilot = speed.BusyMeter(), []
    for i in range(PILOT):
        speed.settle(cores)
        meter.mark()
        b = m.untimed(impl, max(timed.steps - 1, 1), reverse=i % 2 == 1)
        long = speed.inside(impl, x, y, timed, cores)
        b["ts"], b["ts_cpu"] = long["seconds"], long["cpu"]
        speed.settle(cores)  # the 2S call starts from the same pause as the S call
        b["t2s"] = speed.inside(impl, x, y, double, cores)["seconds"]  # six: the fewest with a 95% interval
        b["busy"] = meter.mark()
        pilot.append(b)
    m.blocks = pilot  # blocks like the passes' (the 2S call after the S one takes nothing from them)
    seconds = sum(b["t1"] + b["floor"] + b["ts"] + 0.15 for b in pilot) / len(pilot)
    more = min(timing.blocks_needed([(b["ts"] - b["t1"]) / b["floor"] for b in pilot]) - PILOT,
               max(int(timing.TIME_CAP / seconds), passes))
    m.rounds = max(1, -(-more // passes))
    return m


@pytest.mark.parametrize("cores", BUDGETS, ids=lambda c: budgets.name(c).replace(" ", ""))
@pytest.mark.parametrize("part", range(1, PASSES + 1), ids=lambda p: f"pass{p}")
def test_tutorial_cell(impl, part, cores, benchmark, record_property):
    measure(impl, impl.config, benchmark, record_property, "tutorial cell", cores, PASSES)


@pytest.mark.sweep
@pytest.mark.parametrize("cores", BUDGETS, ids=lambda c: budgets.name(c).replace(" ", ""))
@pytest.mark.parametrize("size", speed.SWEEP)
def test_sweep(impl, size, cores, benchmark, record_property):
    cfg = speed.sweep_config(impl.config, size, speed.SWEEP[size])
    cfg = speed.long_enough(impl, cfg, *make_data(cfg, 0), cores)
    measure(impl, cfg, benchmark, record_property, f"sweep {size}", cores)


@pytest.mark.cuda
@pytest.mark.parametrize("part", range(1, PASSES + 1), ids=lambda p: f"pass{p}")
def test_tutorial_cell_on_gpu(impl, part, benchmark, record_property):
    on_gpu(impl, impl.config, lambda cfg: measure(impl, cfg, benchmark, record_property, "tutorial cell", GPU_HOST,
                                                  PASSES))


@pytest.mark.cuda
@pytest.mark.sweep
@pytest.mark.parametrize("size", speed.SWEEP)
def test_sweep_on_gpu(impl, size, benchmark, record_property):
    def sweep(cfg):
        cfg = speed.long_enough(impl, cfg, *make_data(cfg, 0), GPU_HOST)
        measure(impl, cfg, benchmark, record_property, f"sweep {size}", GPU_HOST)
    on_gpu(impl, speed.sweep_config(impl.config, size, speed.SWEEP[size]), sweep)


def on_gpu(impl, cfg, timings):
    """timings(cfg on the first GPU impl's frameworks see); skipped, saying why, where it has none
    or refuses a device (the plugin skips the NumPy-only and the GPU-less before this)."""
    found, why = impl.devices(GPU_HOST)  # asked in the worker that times it
    if not found:
        pytest.skip(why)
    try:
        timings(cfg.replace(device=found[0]))
    except (ValueError, NotImplementedError) as e:
        if "device" in str(e):
            pytest.skip(f"{impl.name} runs on the CPU only ({e})")
        raise
