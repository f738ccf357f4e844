"""Gradients against finite differences, in float64, for every parameter tensor.

(a) the reported step-0 gradients against central differences of the reference loss;
(b) black-box: against central differences of the implementation's *own* loss (losses[0]
of one-step runs from a perturbed init).
A failure says which of the two the gradients agree with: matching its own loss but not the
reference's means the backward pass is right and the forward pass or the loss is not. Directions: one dense random direction and two
sampled coordinates per tensor; a direction whose perturbation moves any ReLU input across
0 is redrawn. Error = |difference quotient - <grad, v>| / (||reference grad|| ||v||).
Bound 1e-6: the largest error measured over every bundled implementation and the oracle
(seeds 0-1, own-loss runs and every dynamic depth; 342 comparisons) is GRAD_FD_MEASURED,
rounding in the loss divided by the step, at a small bias of the dynamic net; the bound
leaves a margin of 35x over it, and a real gradient bug errs by 1e-3 or more.
"""
import numpy as np
import pytest

from conformance.core import oracle as reference
from conformance.core.compare import assert_losses, fail
from conformance.core.start import DEEPEST, dynamic_changes, setup, small_sizes

GRAD_FD_BOUND = 1e-6
GRAD_FD_MEASURED = 2.8e-8
STEP = 1e-6  # perturbation, relative to the tensor's norm


def check_fd(impl, seed=0, own=False, depth=None, **changes):
    """Compare impl's step-0 gradients with central differences in random directions, of the
    reference loss (own=False) or of its own reported loss (own=True); on a failure, say which
    of the two the gradients agree with, and name the bug when a known one reproduces them."""
    __tracebackhide__ = True
    depths = (depth,) if depth is not None else None
    x, y, cfg = setup(impl, seed, "float64", steps=1, depths=depths, **changes)
    res = impl.run(x, y, cfg)
    grads = res["grads"]
    for name, w in cfg.init.items():
        g = np.asarray(grads[name], dtype=np.float64)
        if g.shape != w.shape:
            fail(f"{name} grad has shape {g.shape}, but should be {w.shape}", impl, cfg)
    errors = fd_errors(impl, x, y, cfg, grads, own, seed)
    name, (err, kind) = max(errors.items(), key=lambda kv: kv[1][0])
    if err <= GRAD_FD_BOUND:
        return
    d = cfg.depths[0] if cfg.depths else 0
    other = fd_errors(impl, x, y, cfg, grads, not own, seed)[name][0]
    if own:
        verdict = ("they match differences of the reference loss, so the loss you report is not the loss you "
                   "differentiate" if other <= GRAD_FD_BOUND else
                   "nor those of the reference loss: the backward pass is wrong")
        text = f"{name} grad differs from finite differences of your own loss by {err:.1e} in a {kind}; {verdict}"
    elif other <= GRAD_FD_BOUND:
        ref_loss = reference.loss_and_grads(cfg.init, x, y, cfg.model, cfg.loss, d)[0]
        text = (f"{name} grad differs from finite differences of the reference loss by {err:.1e} in a {kind}, but "
                f"matches those of your own loss (error {other:.1e}): the backward pass is right for the loss you "
                f"compute, and that loss is not the reference's (yours at step 0: {float(res['losses'][0]):.6g}, "
                f"the reference's: {ref_loss:.6g}): the forward pass or the loss differs")
    else:
        text = (f"{name} grad differs from finite differences of the reference loss by {err:.1e} in a {kind}, and "
                f"from those of your own loss by {other:.1e}: the backward pass is wrong")
    fail(f"{text} (bound {GRAD_FD_BOUND:.0e}; depth {d}){diagnosis_of(impl, res, x, y, cfg)}", impl, cfg)


def diagnosis_of(impl, res, x, y, cfg) -> str:
    from conformance.core.compare import diagnosed, reference_for
    from conformance.core.envelope import findings

    ref = reference_for(res, x, y, cfg)
    found = findings(res, ref)
    return diagnosed(impl, res, ref, x, y, found) if found else ""


def fd_errors(impl, x, y, cfg, grads, own, seed) -> dict:
    """{tensor: (worst error, direction kind)}: |difference quotient - <grad, v>| / ||reference grad||
    over a random direction and two coordinates per tensor (redrawn while they cross a ReLU kink)."""
    p0 = {k: np.asarray(v, dtype=np.float64) for k, v in cfg.init.items()}
    d = cfg.depths[0] if cfg.depths else 0
    _, ref_grads, pre0 = reference.loss_and_grads(p0, x, y, cfg.model, cfg.loss, d)
    total = np.sqrt(sum(np.sum(g * g) for g in ref_grads.values()))

    def loss(p):
        if own:
            return float(assert_losses(impl.run(x, y, cfg.replace(init=p))["losses"], cfg.steps, impl, cfg)[0])
        return reference.loss_and_grads(p, x, y, cfg.model, cfg.loss, d)[0]

    rng = np.random.default_rng([seed, 11])
    out = {}
    for name, w in p0.items():
        g = np.asarray(grads[name], dtype=np.float64)
        scale = np.linalg.norm(ref_grads[name]) or total
        h = STEP * max(np.linalg.norm(w), 1.0)
        worst = (0.0, "random direction")
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
            if not err <= worst[0]:
                worst = (err, kind)
        out[name] = worst
    return out


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
@pytest.mark.parametrize("depth", range(DEEPEST + 1))
def test_dynamic_grads_at_depth(impl, depth):
    """Depth 0: the shared layer gets a zero gradient; depth >= 2: the sum over its uses; every
    depth the domain reaches, beyond the tutorial's 0..3 too."""
    check_fd(impl, depth=depth, **dynamic_changes(impl), max_depth=max(depth, impl.config.max_depth))


def test_structure_grads(impl, structure):
    """Every other structure the implementation computes, at small sizes (any size is valid); a
    failure still says whether the gradients agree with differences of its own loss."""
    check_fd(impl, **structure, **small_sizes())
