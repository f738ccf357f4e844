"""Trajectory against the oracle: the loss at step 0, the step-0 gradients, every step's loss and
the final parameters, from the same start (the implementation's own init) and the same data.

The tutorial cell runs its full step count in both precisions; every other structure the
implementation computes runs 40 steps at small sizes and a learning rate derived from the
oracle's sharpness. Each bound is derived for that run from the spread of the oracle's shadow
runs (conformance/core/envelope.py), so it is as tight as rounding allows at every step, and wide only
where the dynamics themselves amplify rounding.
"""
import pytest

from conformance.core import oracle
from conformance.core.compare import assert_matches_reference
from conformance.core.start import cached_run, drawn_depths, setup, small_sizes


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_matches_reference(impl, dtype):
    x, y, cfg = setup(impl, 0, dtype)
    assert_matches_reference(impl, cached_run(impl, x, y, cfg), x, y, cfg)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_structure_trajectory(impl, structure, dtype):
    if structure["model"] == "dynamic":
        # a first step without the shared layer: the contract's two Adam conventions for an unused
        # parameter part there, so that a mix of them shows
        structure = {**structure, "depths": (0,) + drawn_depths(0, 39, impl.config.max_depth)}
    x, y, cfg = setup(impl, 0, dtype, steps=40, **structure, **small_sizes())
    lr = oracle.stable_lr(0.3, x.astype("float64"), y.astype("float64"), cfg, cfg.init, cfg.depths or (0,))
    cfg = cfg.replace(lr=lr)
    assert_matches_reference(impl, impl.run(x, y, cfg), x, y, cfg)
