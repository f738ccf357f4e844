"""The oracle: a plain NumPy implementation of every structural setting of the contract.

Two-layer and dynamic models, with and without bias, sum and mean loss, SGD and Adam
(torch.optim.Adam's update). The suite runs it in float64 as the trusted reference;
``tests/test_reference.py`` holds it against finite differences. It honours the whole
contract itself, so ``pytest --impl tests/reference.py`` verifies it like any plug-in.
"""
import numpy as np

from implementations.contract import Result, check, draw_depths, start

TAGS = ("reference", "numpy")
BETAS, EPS = (0.9, 0.999), 1e-8


def layers(model: str, depth: int = 0) -> list:
    """The (weight, bias) names applied in order; ReLU follows every layer but the last."""
    if model == "two_layer":
        return [("w1", "b1"), ("w2", "b2")]
    return [("w_in", "b_in")] + [("w_mid", "b_mid")] * depth + [("w_out", "b_out")]


def forward(p: dict, x: np.ndarray, model: str, depth: int = 0):
    """Return y_pred, the inputs of every layer, and the pre-activations of every ReLU."""
    h, inputs, pre = x, [], []
    names = layers(model, depth)
    for i, (w, b) in enumerate(names):
        inputs.append(h)
        z = h @ p[w] + p[b] if b in p else h @ p[w]
        if i < len(names) - 1:
            pre.append(z)
            z = np.maximum(z, 0)
        h = z
    return h, inputs, pre


def loss_of(y_pred: np.ndarray, y: np.ndarray, kind: str):
    """Loss and its gradient with respect to y_pred."""
    diff = y_pred - y
    if kind == "sum":
        return np.square(diff).sum(), 2.0 * diff
    return np.square(diff).mean(), 2.0 * diff / diff.size


def loss_and_grads(p: dict, x, y, model="two_layer", loss="sum", depth=0):
    """Loss, canonical gradients (zeros for unused parameters) and ReLU pre-activations."""
    y_pred, inputs, pre = forward(p, x, model, depth)
    value, g = loss_of(y_pred, y, loss)
    grads = {k: np.zeros_like(v) for k, v in p.items()}
    names = layers(model, depth)
    for i in reversed(range(len(names))):
        w, b = names[i]
        if i < len(names) - 1:
            g = g * (pre[i] > 0)
        grads[w] += inputs[i].T @ g
        if b in p:
            grads[b] += g.sum(axis=0)
        g = g @ p[w].T
    return value, grads, pre


def train(x, y, cfg):
    shapes = check(x, y, cfg, model=("two_layer", "dynamic"), bias=(False, True),
                   loss=("sum", "mean"), optimizer=("sgd", "adam"))
    x, y = x.astype(cfg.dtype), y.astype(cfg.dtype)
    p = start(cfg, shapes)
    init = {k: v.copy() for k, v in p.items()}
    depths = draw_depths(cfg) if cfg.model == "dynamic" else np.zeros(cfg.steps, dtype=np.int64)
    m = {k: np.zeros_like(v) for k, v in p.items()}
    v2 = {k: np.zeros_like(v) for k, v in p.items()}
    losses, first = np.zeros(cfg.steps), None
    for t in range(cfg.steps):
        losses[t], grads, _ = loss_and_grads(p, x, y, cfg.model, cfg.loss, depths[t])
        if t == 0:
            first = grads
        for k, g in grads.items():
            if cfg.optimizer == "sgd":
                p[k] -= cfg.lr * g
                continue
            m[k] = BETAS[0] * m[k] + (1 - BETAS[0]) * g
            v2[k] = BETAS[1] * v2[k] + (1 - BETAS[1]) * g * g
            m_hat = m[k] / (1 - BETAS[0] ** (t + 1))
            v_hat = v2[k] / (1 - BETAS[1] ** (t + 1))
            p[k] -= cfg.lr * m_hat / (np.sqrt(v_hat) + EPS)
    return Result(losses=losses, init=init, params=p, grads=first,
                  depths=depths if cfg.model == "dynamic" else None)
