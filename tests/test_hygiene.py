"""Hygiene: deterministic on the CPU, the caller's inputs untouched, no process-wide state left behind."""
import numpy as np
import pytest

from tests.helpers import (assert_unchanged, changed_state, distinct_rng_state, fail, process_state, setup,
                           snapshot)

STEPS = 20


def assert_identical(a, b, impl, cfg, when):
    __tracebackhide__ = True
    for key in a:
        if key in ("losses", "depths"):
            same = np.array_equal(np.asarray(a[key]), np.asarray(b[key]), equal_nan=True)
        else:
            same = all(np.array_equal(a[key][k], b[key][k], equal_nan=True) for k in a[key])
        if not same:
            fail(f"the same inputs gave a different {key!r} {when}", impl, cfg)


def test_same_result_twice(impl):
    x, y, cfg = setup(impl, 0, impl.config.dtype, steps=STEPS)
    assert_identical(impl.run(x, y, cfg), impl.run(x, y, cfg), impl, cfg, "on a second run")


def test_same_result_after_the_others(impl, all_impls):
    x, y, cfg = setup(impl, 0, impl.config.dtype, steps=STEPS)
    first = impl.run(x, y, cfg)
    for other in all_impls:
        if other is not impl:
            other.run(*setup(other, 1, other.config.dtype, steps=3))
    after = impl.run(x, y, cfg)
    others = ", ".join(o.name for o in all_impls if o is not impl)
    assert_identical(first, after, impl, cfg, f"after {others} ran in between")


def test_inputs_unchanged(impl):
    x, y, cfg = setup(impl, 0, impl.config.dtype, steps=STEPS)
    before = snapshot(x, y, cfg)
    impl.run(x, y, cfg)
    assert_unchanged(before, x, y, cfg, impl)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_no_process_state_left_behind(impl, dtype):
    x, y, cfg = setup(impl, 0, dtype, steps=STEPS)
    with distinct_rng_state():
        before = process_state()
        impl.run(x, y, cfg)
        after = process_state()
    changed = changed_state(before, after)
    if changed:
        fail(f"train changed process-wide state: {', '.join(changed)}", impl, cfg)
