"""Speed: pytest-benchmark times each implementation's tutorial cell (`--benchmark-only`).

Every timing is taken the same way, in blocks (conformance/timing.py): each block runs, back to
back and in alternating order, the call at 1 step and the floor (the step's products alone) for
the same number of steps, then pauses for the thread pools to go idle and lets pytest-benchmark
time the call at the cell's S steps; a meter notes how much of the machine other processes used
during the block. A pilot of six blocks sizes the measurement: enough blocks for the interval of
the x-floor ratio to be about +-5% wide, at least 15 and at most 41, within about 15 s. Every
library runs one thread (conformance/timing.py's one_thread_each says why).
From the undisturbed blocks: microseconds per step with an interval, the floor, the ratio to it
with an interval (its parts measured within the same second), GFLOP/s, the share of this
machine's float32 matmul peak (measured in the same run), what a call costs besides its steps,
and the first call's one-time cost (imports, compilation, tracing). A row whose blocks saw the
machine busy says so instead of passing its numbers off as facts.

`--benchmark-sweep` adds the same measurement at sizes N = D_in = H = D_out = 1 ... 2048
(tests/speed.py's SWEEP), for the figure speed_sweep.png.
"""
import time

import pytest

from conformance import timing
from conformance.data import make_data
from tests import speed

pytestmark = pytest.mark.speed
PILOT = 6


@pytest.fixture(scope="session")
def peak():
    return speed.peak_gflops()


def measure(impl, cfg, benchmark, record_property, peak, group):
    x, y = make_data(cfg, 0)
    start = time.perf_counter()
    res = impl.run(x, y, cfg)  # the first call: imports, compiling, tracing; not in the statistics
    first = time.perf_counter() - start
    floor = speed.Floor(x.shape[0], x.shape[1], cfg.hidden, y.shape[1], cfg.dtype, res.get("depths"))
    short = cfg.replace(steps=1)
    impl.run(x, y, short)  # a 1-step call may compile a program of its own
    meter, blocks, block = speed.BusyMeter(), [], {}

    def setup():  # untimed by pytest-benchmark: the block's 1-step call and floor, then a pause
        speed.settle()
        meter.mark()
        parts = [("t1", lambda: impl.run(x, y, short)), ("floor", lambda: floor.run(max(cfg.steps - 1, 1)))]
        block.clear()
        for key, fn in parts[::-1] if len(blocks) % 2 else parts:
            block[key] = speed.timed(fn)
        speed.settle()

    def teardown(*_):
        block["busy"] = meter.mark()
        blocks.append(dict(block))

    for _ in range(PILOT):  # a pilot, to see how many blocks a tight interval takes
        setup()
        block["ts"] = speed.timed(lambda: impl.run(x, y, cfg))
        teardown()
    extra = max(cfg.steps - 1, 1)
    seconds = sum(b["t1"] + b["floor"] + b["ts"] + 0.2 for b in blocks) / len(blocks)
    rounds = min(timing.blocks_needed([(b["ts"] - b["t1"]) / b["floor"] for b in blocks]),
                 max(int(timing.TIME_CAP / seconds), 3))
    blocks.clear()
    benchmark.group = group
    benchmark.pedantic(impl.run, args=(x, y, cfg), setup=setup, teardown=teardown, rounds=rounds, iterations=1,
                       warmup_rounds=1)
    blocks = blocks[1:]  # the warm-up round's
    for b, seconds in zip(blocks, benchmark.stats.stats.data):
        b["ts"] = seconds
    depths = res.get("depths")
    flops = speed.run_flops(cfg, x, y, depths) / cfg.steps
    row = timing.summarize(blocks, cfg.steps, flops, peak)
    one_time = max(0.0, first - float(benchmark.stats.stats.median))  # below 0 is noise: none measurable
    row.update({"steps": cfg.steps, "first_call_s": first, "one_time_s": one_time,
                "peak_gflops": peak, "size": [x.shape[0], x.shape[1], cfg.hidden, y.shape[1]], "dtype": cfg.dtype,
                "group": group, "floor_library": floor.library, "extra_steps": extra})
    benchmark.extra_info.update(row)
    record_property("speed", row)


def test_tutorial_cell(impl, benchmark, record_property, peak):
    measure(impl, impl.config, benchmark, record_property, peak, "tutorial cell")


@pytest.mark.sweep
@pytest.mark.parametrize("size", speed.SWEEP)
def test_sweep(impl, size, benchmark, record_property, peak):
    cfg = speed.sweep_config(impl.config, size, speed.SWEEP[size])
    cfg = speed.long_enough(impl, cfg, *make_data(cfg, 0))
    measure(impl, cfg, benchmark, record_property, peak, f"sweep {size}")
