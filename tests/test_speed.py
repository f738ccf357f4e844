"""Speed: pytest-benchmark times each implementation's train calls (`--benchmark-only`).

Each implementation runs its tutorial cell twice over, at 1 step and at the cell's step count,
each the median over rounds after one untimed warm-up call. From the pair (tests/speed.py's
derive): microseconds per step, with what a call costs besides its steps (graph building,
copies) separated out; GFLOP/s from the stated FLOP count (tests/speed.py); the share of this
machine's float32 matmul peak and the ratio to the floor (the step's products alone), both
measured in the same run. The first call's extra time (imports, compilation, tracing) is
reported on its own as the one-time cost. A floor sample is taken before every round (untimed,
followed by a 0.3 s pause), so floor and implementation meet the same moments of a noisy
machine. Every call returns NumPy arrays, so device work has finished (synchronised) before
the clock stops.

`--benchmark-sweep` adds the same pair at sizes N = D_in = H = D_out = 1 ... 2048
(tests/speed.py's SWEEP), for the figure speed_sweep.png.
"""
import time

import pytest

from tests import speed
from tests.helpers import make_data

pytestmark = pytest.mark.speed


@pytest.fixture(scope="session")
def peak():
    return speed.peak_gflops()


def measure(impl, cfg, benchmark, record_property, peak, group, rounds):
    x, y = make_data(cfg, 0)
    start = time.perf_counter()
    res = impl.run(x, y, cfg)  # the first call: imports, compiling, tracing; not in the median
    first = time.perf_counter() - start
    floor = speed.Floor(x.shape[0], x.shape[1], cfg.hidden, y.shape[1], cfg.dtype, res.get("depths"))

    def between_rounds():  # untimed: a floor sample, then a pause for its threads to go idle
        floor.sample()
        speed.settle()

    benchmark.group = group
    benchmark.pedantic(impl.run, args=(x, y, cfg), setup=between_rounds, rounds=rounds, iterations=1,
                       warmup_rounds=1)
    info = {"steps": cfg.steps, "median_s": benchmark.stats.stats.median, "first_call_s": first,
            "flops": speed.run_flops(cfg, x, y, res.get("depths")), "peak_gflops": peak,
            "floor_us": floor.seconds * 1e6, "size": [x.shape[0], x.shape[1], cfg.hidden, y.shape[1]],
            "dtype": cfg.dtype, "group": group}
    benchmark.extra_info.update(info)
    record_property("speed", info)


@pytest.mark.parametrize("steps", ["1 step", "cell steps"])
def test_tutorial_cell(impl, steps, benchmark, record_property, peak):
    cfg = impl.config.replace(steps=1) if steps == "1 step" else impl.config
    measure(impl, cfg, benchmark, record_property, peak, "tutorial cell", rounds=15 if cfg.steps == 1 else 7)


@pytest.mark.sweep
@pytest.mark.parametrize("size", speed.SWEEP)
@pytest.mark.parametrize("steps", ["1 step", "more steps"])
def test_sweep(impl, size, steps, benchmark, record_property, peak):
    cfg = speed.sweep_config(impl.config, size, 1 if steps == "1 step" else speed.SWEEP[size])
    if steps != "1 step":
        cfg = speed.long_enough(impl, cfg, *make_data(cfg, 0))
    measure(impl, cfg, benchmark, record_property, peak, f"sweep {size}", rounds=3 if size >= 1024 else 7)
