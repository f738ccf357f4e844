"""Speed: pytest-benchmark times each implementation's tutorial cell (`--benchmark-only`).

Every timing is taken the same way, in blocks (conformance/timing.py): each block runs, back to
back and in alternating order, the call at 1 step and the floor (the step's products alone) for
the same number of steps, then pauses for the thread pools to go idle and lets pytest-benchmark
time the call at the cell's S steps; a meter notes how much of the machine other processes used
during the block. A pilot of six blocks sizes the measurement: enough blocks for the interval of
the x-floor ratio to be about +-5% wide, at least 21 and at most 42, within about 24 s. Every
library runs one thread (conformance/timing.py's one_thread_each says why).

A tutorial cell's blocks are taken in PASSES passes spread over the run: every implementation's
first pass, then every one's second, and so on (the plugin orders them), and its row pools them
all. Measured within one process, the same implementation's ratio moved by up to 1.14x from one
pass to the next a minute later (nn_module 2.83, 2.54, 2.49), as much as it did between runs:
the machine drifts over minutes in a way the floor, measured in the same blocks, does not
cancel for code with much per-step Python work. Blocks from three moments average that drift.

From the undisturbed blocks: microseconds per step with an interval, the floor, the ratio to it
with an interval (its parts measured within the same second), GFLOP/s, the share of this
machine's float32 matmul peak (measured in the same run), what a call costs besides its steps,
and the first call's one-time cost (imports, compilation, tracing). A row whose blocks saw the
machine busy says so instead of passing its numbers off as facts.

`--benchmark-sweep` adds the same measurement, in one pass, at sizes N = D_in = H = D_out = 1 ...
2048 (conformance/core/speed.py's SWEEP), for the figure speed_sweep.png.
"""
from dataclasses import dataclass, field

import numpy as np
import pytest

from conformance import timing
from conformance.data import make_data
from conformance.core import speed

pytestmark = pytest.mark.speed
PILOT = 6
PASSES = 3  # a tutorial cell's blocks come from this many passes, spread over the run


@pytest.fixture(scope="session")
def peak():
    return speed.peak_gflops()


@dataclass
class Measurement:
    """What a cell's first pass set up and every pass measured so far."""

    x: object
    y: object
    short: object
    floor: object
    depths: object
    first: float
    rounds: int = 0  # per pass
    blocks: list = field(default_factory=list)
    passes: int = 0

    def untimed(self, impl, extra: int, reverse: bool) -> dict:
        """A block's untimed part: the 1-step call and the floor over `extra` steps, in alternating
        order, then a pause."""
        calls = [("t1", lambda: speed.inside(impl, self.x, self.y, self.short)),
                 ("floor", lambda: speed.timed(lambda: self.floor.run(extra)))]
        out = {k: fn() for k, fn in (calls[::-1] if reverse else calls)}
        speed.settle()
        return out


_MEASURED = {}  # (group, implementation) -> Measurement


def measure(impl, cfg, benchmark, record_property, peak, group, passes=1):
    """One of `passes` passes of the measurement of impl's call of cfg; its row pools every pass so far."""
    key = (group, impl.name)
    m = _MEASURED.get(key)
    if m is None:
        m = _MEASURED[key] = start(impl, cfg, passes)
    meter, blocks, block = speed.BusyMeter(), [], {}

    def setup():  # untimed by pytest-benchmark: the block's 1-step call and floor, then a pause
        speed.settle()
        meter.mark()
        block.clear()
        block.update(m.untimed(impl, max(cfg.steps - 1, 1), reverse=len(blocks) % 2 == 1))

    def teardown(*_):
        block["busy"] = meter.mark()
        block["ts"] = impl.seconds  # timed in its worker: the call's transport is not in it
        blocks.append(dict(block))

    benchmark.group = group
    benchmark.pedantic(impl.run, args=(m.x, m.y, cfg), setup=setup, teardown=teardown, rounds=m.rounds,
                       iterations=1, warmup_rounds=1)
    blocks = blocks[1:]  # the warm-up round's
    m.blocks.extend(blocks)
    m.passes += 1
    flops = speed.run_flops(cfg, m.x, m.y, m.depths) / cfg.steps
    row = timing.summarize(m.blocks, cfg.steps, flops, peak)
    one_time = max(0.0, m.first - float(np.median([b["ts"] for b in m.blocks])))  # below 0 is noise
    row.update({"steps": cfg.steps, "first_call_s": m.first, "one_time_s": one_time, "passes": m.passes,
                "peak_gflops": peak, "size": [m.x.shape[0], m.x.shape[1], cfg.hidden, m.y.shape[1]],
                "dtype": cfg.dtype, "group": group, "floor_library": m.floor.library,
                "extra_steps": max(cfg.steps - 1, 1)})
    benchmark.extra_info.update(row)
    record_property("speed", row)


def start(impl, cfg, passes) -> Measurement:
    """The first call (its one-time cost), the floor, and a pilot of PILOT blocks that decides how
    many blocks each pass takes."""
    x, y = make_data(cfg, 0)
    res = impl.run(x, y, cfg)  # the first call: imports, compiling, tracing; not in the statistics
    first = impl.seconds
    floor = speed.floor(x.shape[0], x.shape[1], cfg.hidden, y.shape[1], cfg.dtype, res.get("depths"))
    short = cfg.replace(steps=1)
    impl.run(x, y, short)  # a 1-step call may compile a program of its own
    m = Measurement(x, y, short, floor, res.get("depths"), first)
    pilot = []
    for i in range(PILOT):
        speed.settle()
        b = m.untimed(impl, max(cfg.steps - 1, 1), reverse=i % 2 == 1)
        b["ts"] = speed.inside(impl, x, y, cfg)
        pilot.append(b)
    seconds = sum(b["t1"] + b["floor"] + b["ts"] + 0.2 for b in pilot) / len(pilot)
    rounds = min(timing.blocks_needed([(b["ts"] - b["t1"]) / b["floor"] for b in pilot]),
                 max(int(timing.TIME_CAP / seconds), 3 * passes))
    m.rounds = -(-rounds // passes)
    return m


@pytest.mark.parametrize("part", range(1, PASSES + 1), ids=lambda p: f"pass{p}")
def test_tutorial_cell(impl, part, benchmark, record_property, peak):
    measure(impl, impl.config, benchmark, record_property, peak, "tutorial cell", PASSES)


@pytest.mark.sweep
@pytest.mark.parametrize("size", speed.SWEEP)
def test_sweep(impl, size, benchmark, record_property, peak):
    cfg = speed.sweep_config(impl.config, size, speed.SWEEP[size])
    cfg = speed.long_enough(impl, cfg, *make_data(cfg, 0))
    measure(impl, cfg, benchmark, record_property, peak, f"sweep {size}")
