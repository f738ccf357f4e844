"""Gradients against finite differences, in float64, for every parameter tensor.

(a) the reported step-0 gradients against central differences of the reference loss;
(b) black-box: against central differences of the implementation's *own* loss (losses[0]
of one-step runs from a perturbed init). Directions: one dense random direction and two
sampled coordinates per tensor; a direction whose perturbation moves any ReLU input across
0 is redrawn. Error = |difference quotient - <grad, v>| / (||reference grad|| ||v||).
Bound 1e-6: the largest error measured over every bundled implementation and the oracle
(seeds 0-1, own-loss runs and every dynamic depth; 342 comparisons) is GRAD_FD_MEASURED,
rounding in the loss divided by the step, at a small bias of the dynamic net; the bound
leaves a margin of 35x over it, and a real gradient bug errs by 1e-3 or more.
"""
import numpy as np
import pytest

from tests import reference
from tests.helpers import fail, setup, tag

GRAD_FD_BOUND = 1e-6
GRAD_FD_MEASURED = 2.8e-8
STEP = 1e-6  # perturbation, relative to the tensor's norm


def check_fd(impl, seed=0, own=False, depth=None):
    """Compare impl's step-0 gradients with central differences in random directions."""
    __tracebackhide__ = True
    depths = (depth,) if depth is not None else None
    x, y, cfg = setup(impl, seed, "float64", steps=1, depths=depths)
    grads = impl.run(x, y, cfg)["grads"]
    p0 = {k: np.asarray(v, dtype=np.float64) for k, v in cfg.init.items()}
    d = cfg.depths[0] if cfg.depths else 0
    _, ref_grads, pre0 = reference.loss_and_grads(p0, x, y, cfg.model, cfg.loss, d)
    total = np.sqrt(sum(np.sum(g * g) for g in ref_grads.values()))

    def loss(p):
        if own:
            return float(impl.run(x, y, cfg.replace(init=p))["losses"][0])
        return reference.loss_and_grads(p, x, y, cfg.model, cfg.loss, d)[0]

    rng = np.random.default_rng([seed, 11])
    for name, w in p0.items():
        g = np.asarray(grads[name], dtype=np.float64)
        if g.shape != w.shape:
            fail(f"{name} grad has shape {g.shape}, but should be {w.shape}", impl, cfg)
        scale = np.linalg.norm(ref_grads[name]) or total
        h = STEP * max(np.linalg.norm(w), 1.0)
        for kind in ("random direction", "coordinate", "coordinate"):
            for _ in range(10):  # redraw a direction that crosses a ReLU kink
                v = rng.standard_normal(w.shape)
                if kind == "coordinate":
                    v = np.zeros(w.shape)
                    v[np.unravel_index(rng.integers(w.size), w.shape)] = 1.0
                v /= np.linalg.norm(v)
                plus, minus = dict(p0, **{name: w + h * v}), dict(p0, **{name: w - h * v})
                if not crosses_kink(plus, minus, pre0, x, cfg.model, d):
                    break
            quotient = (loss(plus) - loss(minus)) / (2 * h)
            err = abs(quotient - np.sum(g * v)) / scale
            if not err <= GRAD_FD_BOUND:
                source = "its own loss" if own else "the reference loss"
                fail(f"{name} grad max error {err:.1e} in a {kind}, but should be <= {GRAD_FD_BOUND:.0e} "
                     f"(finite differences of {source}; depth {d})", impl, cfg)


def crosses_kink(plus, minus, pre0, x, model, depth) -> bool:
    for p in (plus, minus):
        pre = reference.forward(p, x, model, depth)[2]
        if any(((a > 0) != (b > 0)).any() for a, b in zip(pre, pre0)):
            return True
    return False


@pytest.mark.parametrize("seed", [0, 1])
def test_grads_match_reference_differences(impl, seed):
    check_fd(impl, seed)


def test_grads_match_own_loss_differences(impl):
    check_fd(impl, own=True)


@pytest.mark.dynamic_only
@pytest.mark.parametrize("depth", [0, 1, 2, 3])
def test_dynamic_grads_at_depth(impl, depth):
    """Depth 0: the shared layer gets a zero gradient; depth >= 2: the sum over its uses."""
    check_fd(impl, depth=depth)
