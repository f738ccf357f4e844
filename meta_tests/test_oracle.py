"""The oracle itself: gradients against finite differences, Adam against torch.optim.Adam.

Every structural combination, at small sizes, every coordinate, in float64. The central
difference of a piecewise-polynomial loss is exact up to rounding and O(h^2); measured worst
error 4.1e-9 relative to the gradient's norm (step 1e-6), every tensor of all 24 cases;
bound 1e-6 (~250x). A kink crossing at these sizes would show as an error near 1, not hide.
"""
import itertools

import numpy as np
import pytest

from implementations.contract import Config
from conformance.data import make_data
from conformance.core import oracle as reference
from conformance.core.start import shapes_of
from conformance.data import digest

pytestmark = pytest.mark.selftest
BOUND = 1e-6
STRUCTURES = [(m, b, l) for m, b, l in itertools.product(("two_layer", "dynamic"), (False, True), ("sum", "mean"))]


def small(model, bias, loss, **kw):
    cfg = Config(batch=8, d_in=5, hidden=6, d_out=3, model=model, bias=bias, loss=loss, dtype="float64", **kw)
    x, y = make_data(cfg, 0)
    rng = np.random.default_rng(1)
    p = {k: rng.standard_normal(s) for k, s in shapes_of(cfg, x, y).items()}
    return x, y, cfg, p


@pytest.mark.parametrize("model,bias,loss", STRUCTURES, ids=["-".join(map(str, s)) for s in STRUCTURES])
@pytest.mark.parametrize("depth", [0, 1, 3])
def test_oracle_grads_match_differences(model, bias, loss, depth):
    x, y, cfg, p = small(model, bias, loss)
    _, grads, _ = reference.loss_and_grads(p, x, y, model, loss, depth)
    h = 1e-6
    for name, w in p.items():
        fd = np.zeros_like(w)
        for i in np.ndindex(w.shape):
            plus, minus = dict(p, **{name: w.copy()}), dict(p, **{name: w.copy()})
            plus[name][i] += h
            minus[name][i] -= h
            fd[i] = (reference.loss_and_grads(plus, x, y, model, loss, depth)[0]
                     - reference.loss_and_grads(minus, x, y, model, loss, depth)[0]) / (2 * h)
        scale = max(np.linalg.norm(fd), 1.0)
        err = np.linalg.norm(grads[name] - fd) / scale
        assert err <= BOUND, f"oracle {name} grad error {err:.1e}, but should be <= {BOUND:.0e} [{model}, bias={bias}, {loss}, depth {depth}]"


@pytest.mark.parametrize("model,bias,loss", STRUCTURES, ids=["-".join(map(str, s)) for s in STRUCTURES])
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_oracle_training_matches_torch(model, bias, loss, optimizer):
    """Six steps of the oracle against torch autograd + torch.optim in float64 (measured 1e-15)."""
    torch = pytest.importorskip("torch")
    x, y, cfg, p = small(model, bias, loss)
    depths = (0, 2, 1, 3, 0, 1) if model == "dynamic" else None
    cfg = cfg.replace(optimizer=optimizer, lr=1e-2, steps=6, init=p, depths=depths)
    res = reference.train(x, y, cfg)

    t = {k: torch.tensor(v, requires_grad=True) for k, v in p.items()}
    opt = (torch.optim.Adam if optimizer == "adam" else torch.optim.SGD)(t.values(), lr=cfg.lr)
    xt, yt = torch.tensor(x), torch.tensor(y)
    for v in t.values():  # an unused parameter gets a zero gradient (a step for Adam), as the contract says
        v.grad = torch.zeros_like(v)
    for step in range(cfg.steps):
        names = reference.layers(model, depths[step] if depths else 0)
        h = xt
        for i, (w, b) in enumerate(names):
            h = h @ t[w] + (t[b] if b in t else 0)
            h = h.clamp(min=0) if i < len(names) - 1 else h
        err = (h - yt).pow(2)
        value = err.sum() if loss == "sum" else err.mean()
        opt.zero_grad(set_to_none=False)
        value.backward()
        assert abs(value.item() - res.losses[step]) <= 1e-12 * abs(value.item())
        opt.step()
    for k, v in t.items():
        err = np.abs(v.detach().numpy() - res.params[k]).max()
        assert err <= 1e-12, f"oracle {k} after {cfg.steps} {optimizer} steps differs from torch by {err:.1e}"


@pytest.mark.parametrize("model,optimizer,steps", [("two_layer", "adam", 7), ("dynamic", "sgd", 5), ("two_layer", "sgd", 0)])
def test_a_stored_reference_is_the_computed_one(tmp_path, monkeypatch, model, optimizer, steps):
    """Slow references are kept on disk for other processes (store.py): what they read back must be
    exactly what they would have computed."""
    from conformance.core import envelope, store

    monkeypatch.setattr(store, "_STORE", [tmp_path])
    monkeypatch.setattr(store, "AFTER_S", 0.0)
    monkeypatch.setattr(envelope, "_CACHE", {})
    x, y, cfg, p = small(model, True, "mean", optimizer=optimizer, steps=steps, lr=1e-2, max_depth=2)
    depths = [1, 0, 2, 2, 1][:steps] if model == "dynamic" else None
    computed = envelope.reference(x, y, cfg.replace(dtype="float32"), p, depths)
    assert len(list(tmp_path.glob("*.npz"))) == 1
    envelope._CACHE.clear()
    read = envelope.reference(x, y, cfg.replace(dtype="float32"), p, depths)
    assert read is not computed

    def flat(tree, prefix=""):
        for k, v in tree.items():
            yield from flat(v, f"{prefix}{k}/") if isinstance(v, dict) else [(prefix + k, v)]

    want, got = dict(flat({"run": computed.run, "spread": computed.spread})), dict(flat({"run": read.run,
                                                                                         "spread": read.spread}))
    assert want.keys() == got.keys()
    assert all(np.array_equal(want[k], got[k]) for k in want), [k for k in want if not np.array_equal(want[k], got[k])]
    assert digest(x, y, read.cfg) == digest(x, y, computed.cfg) and read.horizon == computed.horizon
