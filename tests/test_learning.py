"""Learning: run as its tutorial cell, the implementation ends with a much lower loss.

Judged by the oracle in float64, not by the reported losses: the loss of the final
parameters over the loss of the initial ones, for the dynamic model averaged over every
depth 0..max_depth (the expected loss), so the random depth of the last steps cannot sway it.
Measured over seeds 0-3: two-layer cells 0.12-0.14 (nn, SGD), <= 4e-4 (Adam), ~1e-12
(warm-up); the dynamic cell 0.85-0.87 (the tutorial's own run ends at a loss of 1.03: 500
steps of SGD at lr 1e-2 through a changing depth learn slowly). Bounds: 0.5 and 0.95.

The run is the tutorial run of the report: its losses, and per step its distance from the
oracle's and the bound the trajectory family allows there, become the report's figures.
"""
import numpy as np

from conformance.core import oracle
from conformance.results import Prop
from conformance.core.compare import assert_layout, assert_losses, fail, reference_for
from conformance.core.envelope import to64
from conformance.core.start import cached_run, setup

RATIO_BOUND = {"two_layer": 0.5, "dynamic": 0.95}


def expected_loss(params, x, y, cfg):
    depths = range(cfg.max_depth + 1) if cfg.model == "dynamic" else [0]
    return np.mean([oracle.loss_and_grads(to64(params), x, y, cfg.model, cfg.loss, d)[0] for d in depths])


def tutorial_run(res, x, y, cfg, readable=True) -> dict:
    """What the report draws: the run's losses, the oracle's, and per step |loss - oracle| and its
    bound (those three only where the oracle can read the run)."""
    losses = np.asarray(res["losses"], dtype=float)
    out = {"losses": losses.tolist(), "dtype": cfg.dtype, "oracle": None, "error": None, "bound": None}
    if not readable:
        return out
    try:
        ref = reference_for(res, x, y, cfg)
        out["oracle"] = np.asarray(ref.run["losses"], dtype=float).tolist()
        out["error"] = np.abs(losses - ref.run["losses"]).tolist()
        out["bound"] = ref.bound("losses").tolist()
    except Exception:  # noqa: BLE001 - a result the oracle cannot follow: the figure shows no error curve for it,
        pass           # and the contract or trajectory family names the problem
    return out


def test_loss_ends_far_below_start(impl, record_property):
    x, y, cfg = setup(impl, 0, impl.config.dtype)
    res = cached_run(impl, x, y, cfg)
    losses = assert_losses(res["losses"], cfg.steps, impl, cfg)
    readable = False
    try:  # the report draws the run's losses, and the oracle's beside them where it can read the run
        assert_layout(res, x, y, cfg, impl, grads=False)  # what the oracle reads here
        readable = True
    finally:
        record_property(Prop.TUTORIAL_RUN, tutorial_run(res, x, y, cfg, readable))
    if not np.isfinite(losses).all():
        fail("reported losses hold NaN or Inf: training diverged", impl, cfg)
    x64, y64 = x.astype("float64"), y.astype("float64")
    ratio = expected_loss(res["params"], x64, y64, cfg) / expected_loss(res["init"], x64, y64, cfg)
    bound = RATIO_BOUND[cfg.model]
    if not ratio <= bound:
        fail(f"final loss / initial loss {ratio:.3g}, but should be <= {bound} after the cell's "
             f"{cfg.steps} steps at lr {cfg.lr:g}", impl, cfg)
