"""Speed: each implementation's tutorial cell, timed by pytest-benchmark (--benchmark-only).

One group, so `pytest --benchmark-only` prints every implementation side by side. A plain
`pytest` skips these (conftest.py says why). extra_info carries microseconds per step.
"""
import pytest

from tests.helpers import make_data


@pytest.mark.benchmark(group="tutorial cell", warmup=True)
def test_tutorial_cell_speed(impl, benchmark):
    cfg = impl.config
    x, y = make_data(cfg, 0)
    impl.run(x, y, cfg)  # one-time costs (imports, first-call set-up) stay out of the timing
    benchmark.extra_info["steps"] = cfg.steps
    benchmark.pedantic(impl.run, args=(x, y, cfg), rounds=5, iterations=1)
    benchmark.extra_info["us_per_step"] = benchmark.stats.stats.median / cfg.steps * 1e6
