"""The speed family's own machinery: the arithmetic behind its columns, and a real
`--benchmark-only` run (terminal table, report JSON, pytest-benchmark's save and compare)."""
import json
import re
import subprocess
import sys
import time

import numpy as np
import pytest

from conformance import ROOT, timing
from meta_tests.subprocesses import fresh_env, pytest_cmd
from conformance.core import oracle as reference
from conformance.core import speed

pytestmark = pytest.mark.selftest
serial = pytest.mark.serial  # timings: the machine to themselves (./run tests runs them after the rest)


def blocks(n, per_step=200e-6, floor=160e-6, call=5e-3, steps=500, busy=0.0, noise=0.0, seed=0):
    """Blocks as the speed test measures them: calls that cost `call` plus per_step a step."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        jitter = 1 + noise * rng.standard_normal(3)
        out.append({"t1": (call + per_step) * jitter[0], "floor": floor * (steps - 1) * jitter[1],
                    "ts": (call + per_step * steps) * jitter[2], "busy": busy})
    return out


def test_summary_recovers_per_step_and_per_call_costs():
    got = timing.summarize(blocks(11), 500, 26e6, 300.0)
    assert got["us_per_step"] == pytest.approx(200)
    assert got["per_call_ms"] == pytest.approx(5)
    assert got["gflops"] == pytest.approx(130)
    assert got["peak_share"] == pytest.approx(130 / 300)
    assert got["floor_ratio"] == pytest.approx(1.25)
    assert not got["busy"] and got["disturbed"] == 0


def test_intervals_cover_the_truth_and_narrow_with_more_blocks():
    """Over 200 simulated measurements with 5% noise per timing, the 95% intervals of the ratio
    and of us/step hold the true values at least 90% of the time, and 41 blocks give narrower
    intervals than 9."""
    widths = {}
    for n in (9, 41):
        rows = [timing.summarize(blocks(n, noise=0.05, seed=s), 500, 26e6, 300.0) for s in range(200)]
        covered = np.mean([r["ratio_low"] <= 1.25 <= r["ratio_high"] for r in rows])
        covered_us = np.mean([r["us_low"] <= 200 <= r["us_high"] for r in rows])
        assert covered >= 0.9 and covered_us >= 0.9, (n, covered, covered_us)
        widths[n] = np.mean([r["ratio_high"] - r["ratio_low"] for r in rows])
    assert widths[41] < widths[9] / 1.5, widths


def test_median_interval_is_the_order_statistics_interval():
    # n = 9: P(Binomial(9, 1/2) <= 1) = 10/512 < 0.025 <= P(<= 2): the 2nd and 8th values
    assert timing.median_interval(range(1, 10)) == (5.0, 2.0, 8.0)
    assert timing.median_interval([3.0]) == (3.0, -np.inf, np.inf)


def test_busy_blocks_are_left_out_and_a_busy_row_is_flagged():
    quiet, noisy = blocks(8), blocks(4, per_step=400e-6, busy=0.5)
    row = timing.summarize(quiet + noisy, 500, 26e6, 300.0)
    assert row["disturbed"] == 4 and row["us_per_step"] == pytest.approx(200)  # the busy blocks' 400 us left out
    assert row["busy"]
    assert not timing.summarize(quiet, 500, 26e6, 300.0)["busy"]


def test_a_pass_a_few_percent_slower_is_not_a_disturbance():
    """On a quiet machine a pass drifts a few percent from the others while the MAD is a fraction
    of a percent: 6 MADs alone flagged such a row busy (fast_jax, 7 of 21 blocks, nothing else
    running). A block 30% slower than the rest still is disturbed."""
    steady = blocks(14, noise=0.001, seed=1)
    drifted = blocks(7, per_step=208e-6, noise=0.001, seed=2)  # a pass 4% slower
    row = timing.summarize(steady + drifted, 500, 26e6, 300.0)
    assert row["disturbed"] == 0 and not row["busy"], row
    slow = blocks(7, per_step=260e-6, noise=0.001, seed=3)  # 30% slower: something else ran
    row = timing.summarize(steady + slow, 500, 26e6, 300.0)
    assert row["disturbed"] == 7 and row["busy"], row


def test_goals_are_judged_only_where_the_interval_allows():
    assert timing.judge(1.01, 1.08, 1.10) == "met"
    assert timing.judge(1.12, 1.30, 1.10) == "not met"
    assert timing.judge(1.05, 1.15, 1.10) == "cannot tell"
    assert timing.judge(0.86, 0.95, 0.85, below=False) == "met"


def test_blocks_needed_grows_with_the_spread():
    calm = [1.0, 1.01, 0.99, 1.0]
    rough = [1.0, 1.3, 0.8, 1.1]
    assert timing.blocks_needed(calm) == timing.MIN_BLOCKS
    assert timing.blocks_needed(rough) > timing.blocks_needed(calm)
    assert timing.blocks_needed([1.0, 3.0, 0.2, 2.0]) == timing.MAX_BLOCKS


def test_one_floor_per_shape_and_depth_mix_in_a_run():
    """Every implementation of a shape is measured against the same floor (its library chosen once)."""
    a = speed.floor(4, 5, 6, 3, "float32", [0, 1, 1, 0])
    assert speed.floor(4, 5, 6, 3, "float32", [1, 0, 0, 1]) is a  # the same mix of depths
    assert speed.floor(4, 5, 6, 3, "float32", [0, 0, 0, 1]) is not a
    assert speed.floor(4, 5, 6, 3, "float64", [0, 1, 1, 0]) is not a
    assert a.library in ("numpy", "torch")


@serial
def test_the_busy_meter_sees_another_process():
    meter = speed.BusyMeter()
    time.sleep(0.5)
    quiet = meter.mark()
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(1.0)
        loaded = meter.mark()
    finally:
        hog.kill()
        hog.wait()
    assert loaded > quiet + 0.2, (quiet, loaded)  # one spinning process is half of a 2-core machine


@pytest.mark.parametrize("depth", [0, 2])
def test_flop_count_matches_the_products_the_oracle_computes(depth):
    """2 m k n summed over every matrix product the float64 oracle makes for one step's loss and
    gradients, less the one a step does not need: the oracle also computes dloss/dx (x's layer)."""
    counted = []

    class Counted(np.ndarray):  # arrays that log every matmul they take part in
        def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
            args = [np.asarray(a) for a in inputs]
            if "out" in kwargs:
                kwargs["out"] = tuple(np.asarray(o) for o in kwargs["out"])
            if ufunc is np.matmul:
                counted.append(2 * args[0].shape[0] * args[0].shape[1] * args[1].shape[1])
            result = getattr(ufunc, method)(*args, **kwargs)
            return result.view(Counted) if isinstance(result, np.ndarray) else result

    n, d_in, h, d_out = 8, 7, 6, 5
    model = "dynamic" if depth else "two_layer"
    shapes = {"two_layer": {"w1": (d_in, h), "w2": (h, d_out)},
              "dynamic": {"w_in": (d_in, h), "w_mid": (h, h), "w_out": (h, d_out)}}[model]
    rng = np.random.default_rng(0)
    params = {k: rng.standard_normal(s).view(Counted) for k, s in shapes.items()}
    x, y = rng.standard_normal((n, d_in)).view(Counted), rng.standard_normal((n, d_out))
    reference.loss_and_grads(params, x, y, model, "sum", depth)
    input_gradient = 2 * n * h * d_in
    assert sum(counted) - input_gradient == speed.step_flops(n, d_in, h, d_out, depth), counted


STEPS = 50
ROW = r"^student +tutorial cell +64,1000,100,10 +\d+\.\d \[\d+\.\d, \d+\.\d\] +\d\.\d\d \[\d\.\d\d, \d\.\d\d\]"


def benchmark_run(tmp_path, *extra, hog=0):
    """A --benchmark-only run of the student plug-in, with `hog` spinning processes beside it. Its
    cell is cut to 50 steps: the machinery needs blocks, not long ones (at the cell's 500 steps the
    two runs took 29 s and 45 s)."""
    text = (ROOT / "meta_tests" / "correct" / "student.py").read_text()
    assert text.count('"lr": 1e-2}') == 1
    impl = tmp_path / "student.py"
    impl.write_text(text.replace('"lr": 1e-2}', f'"lr": 1e-2, "steps": {STEPS}}}'))
    storage = f"file://{tmp_path / 'storage'}"
    cmd = pytest_cmd("--benchmark-only", f"--impl={impl}", f"--benchmark-storage={storage}",
                     f"--report={tmp_path / 'out'}", *extra)
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(hog)]
    try:
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300, env=fresh_env())
    finally:
        for h in hogs:
            h.kill()
            h.wait()
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    return proc.stdout[proc.stdout.index("= speed ="):], json.loads((tmp_path / "out" / "conformance.json").read_text())


@serial
def test_a_benchmark_run_reports_and_saves(tmp_path):
    out, data = benchmark_run(tmp_path, "--benchmark-save=one")
    assert re.search(ROW, out, re.M), out
    assert "cuda: no rows (no GPU: NumPy runs on the CPU only)" in out
    [row] = data["speed"]
    assert row["implementation"] == "student" and row["us_low"] <= row["us_per_step"] <= row["us_high"]
    assert row["ratio_low"] <= row["floor_ratio"] <= row["ratio_high"] and row["blocks"] >= timing.MIN_BLOCKS
    assert any(re.search(r"goal <= 1.10x: (met|not met|cannot tell)", g) for g in data["speed_goals"])
    saved = json.loads(next((tmp_path / "storage").rglob("*one.json")).read_text())
    passes = saved["benchmarks"]  # one benchmark a pass; the row pools them
    assert len(passes) == row["passes"] > 1
    assert all(b["extra_info"]["steps"] == STEPS and b["extra_info"]["floor_us"] > 0 for b in passes)
    assert sum(b["stats"]["rounds"] for b in passes) == row["blocks"]


@serial
def test_a_busy_machine_flags_its_rows(tmp_path):
    """Two processes spinning on these cores during the measurement: the row says so (no timing is
    asserted: only that the disturbance is reported rather than printed as a fact)."""
    out, data = benchmark_run(tmp_path, hog=2)
    [row] = data["speed"]
    assert row["busy"], row
    assert re.search(r"machine busy during this measurement \(\d+% used by others\): rerun", out), out
    assert any("measured while the machine was busy: rerun" in g for g in data["speed_goals"])


def test_benchmarks_refuse_to_share_cores_with_xdist_workers():
    proc = subprocess.run(pytest_cmd("--benchmark-only", "-n", "2", "--collect-only", "-q"), cwd=ROOT,
                          capture_output=True, text=True, timeout=120, env=fresh_env())
    assert proc.returncode == pytest.ExitCode.USAGE_ERROR
    assert "benchmarks need one process: run --benchmark-only without -n" in proc.stderr
