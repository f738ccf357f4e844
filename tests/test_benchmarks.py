"""The speed family's own machinery: the arithmetic behind its columns, and a real
`--benchmark-only` run (terminal table, report JSON, pytest-benchmark's save and compare)."""
import json
import re
import subprocess
import sys

import numpy as np
import pytest

from tests import reference, speed
from tests.helpers import ROOT

pytestmark = pytest.mark.selftest


def test_derive_recovers_per_step_and_per_call_costs():
    # calls that cost 5 ms plus 200 us per step, 26 MFLOP per step; a floor of 160 us
    call = lambda steps: {"steps": steps, "median_s": 5e-3 + 200e-6 * steps, "flops": 26e6 * steps,
                          "first_call_s": 2.0, "peak_gflops": 300.0, "floor_us": 160.0}
    got = speed.derive(call(1), call(500))
    assert got["us_per_step"] == pytest.approx(200)
    assert got["per_call_ms"] == pytest.approx(5)
    assert got["gflops"] == pytest.approx(130)
    assert got["peak_share"] == pytest.approx(130 / 300)
    assert got["floor_ratio"] == pytest.approx(1.25)


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


def test_a_benchmark_run_reports_saves_and_compares(tmp_path):
    storage = f"file://{tmp_path / 'storage'}"
    base = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--benchmark-only",
            "--impl=tests/plugins/student.py", f"--benchmark-storage={storage}", f"--report={tmp_path / 'out'}"]
    first = subprocess.run(base + ["--benchmark-save=one"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-2000:]
    out = first.stdout[first.stdout.index("= speed ="):]
    assert re.search(r"^student +tutorial cell +64,1000,100,10 +\d+\.\d+ +\d+\.\d +\d+% +\d+\.\d\d +-?\d+\.\d\d ms",
                     out, re.M), out
    rows = json.loads((tmp_path / "out" / "conformance.json").read_text())["speed"]
    assert [r["implementation"] for r in rows] == ["student"] and rows[0]["us_per_step"] > 0
    saved = json.loads(next((tmp_path / "storage").rglob("*one.json")).read_text())
    assert {b["extra_info"]["steps"] for b in saved["benchmarks"]} == {1, 500}
    assert all(b["extra_info"]["floor_us"] > 0 for b in saved["benchmarks"])
    second = subprocess.run(base + ["--benchmark-compare=0001"], cwd=ROOT, capture_output=True, text=True,
                            timeout=300)
    assert second.returncode == 0 and "0001_one" in second.stdout, second.stdout[-3000:]


def test_benchmarks_refuse_to_share_cores_with_xdist_workers():
    proc = subprocess.run([sys.executable, "-m", "pytest", "--benchmark-only", "-n", "2", "--collect-only", "-q"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == pytest.ExitCode.USAGE_ERROR
    assert "benchmarks need one process: run --benchmark-only without -n" in proc.stderr
