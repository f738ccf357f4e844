"""Trajectory against the float64 oracle: step-0 gradients, every step's loss, final parameters.

From the same init (the implementation's own, drawn for its tutorial cell) and the same data.
float64 runs the cell's full step count. float32 runs a horizon of 50 steps: rounding makes a
correct float32 run leave the float64 path later on (Adam at lr 1e-2 differs by 4e-3 in loss
at step 100 already, and by up to 80x at step 500), so comparing further would fail correct code.

Bounds (helpers.ORACLE_BOUNDS), each a margin over the largest error measured for the bundled implementations, seeds
0-3 (norm-wise relative error for arrays; per step relative error for the loss, taken
against 1e-8 of the first loss where the loss has fallen below that):

| dtype, optimizer | loss (measured) | params (measured) | grads (measured) |
|---|---|---|---|
| float64, sgd  | 1e-9 (1.1e-12)  | 1e-11 (1.0e-15) | 1e-12 (1.3e-15) |
| float64, adam | 1e-4 (3.4e-6)   | 1e-6 (9.8e-9)   | 1e-12 (1.1e-15) |
| float32, any  | 1e-3 (1.1e-5)   | 1e-3 (1.8e-5)   | 1e-5 (4.1e-7)   |

Adam in float64 amplifies rounding (1e-12 at step 60, 1e-6 by step 450), hence its wider bounds.
"""
import pytest

from tests.helpers import assert_matches_oracle, horizon, setup


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_matches_reference(impl, dtype):
    assert_matches_oracle(impl, *setup(impl, 0, dtype, steps=horizon(impl, dtype)))
