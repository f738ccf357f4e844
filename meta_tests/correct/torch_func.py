"""Correct, in another style: torch.func. The loss is a pure function of a parameter dict;
torch.func.grad_and_value gives its gradients; the updates are written out (SGD, or Adam that
steps an unused parameter with a zero gradient). Every structure of the contract.
"""
import numpy as np
import torch
from torch.func import grad_and_value

from implementations.contract import Result, check, draw_depths, start

TAGS = ("torch",)


def forward(params, x, model, depth):
    names = [("w1", "b1"), ("w2", "b2")] if model == "two_layer" else \
        [("w_in", "b_in")] + [("w_mid", "b_mid")] * depth + [("w_out", "b_out")]
    h = x
    for i, (w, b) in enumerate(names):
        h = h @ params[w] + params[b] if b in params else h @ params[w]
        if i < len(names) - 1:
            h = torch.relu(h)
    return h


def train(x, y, cfg):
    shapes = check(x, y, cfg, model=("two_layer", "dynamic"), bias=(False, True), loss=("sum", "mean"),
                   optimizer=("sgd", "adam"))
    dtype = getattr(torch, cfg.dtype)
    x = torch.as_tensor(np.array(x, dtype=cfg.dtype, order="C"))
    y = torch.as_tensor(np.array(y, dtype=cfg.dtype, order="C"))
    init = start(cfg, shapes, "randn")
    params = {k: torch.tensor(v, dtype=dtype) for k, v in init.items()}
    depths = draw_depths(cfg) if cfg.model == "dynamic" else np.zeros(cfg.steps, dtype=int)

    def loss_fn(p, depth):
        err = forward(p, x, cfg.model, depth) - y
        return (err ** 2).sum() if cfg.loss == "sum" else (err ** 2).mean()

    step = grad_and_value(loss_fn)
    m = {k: torch.zeros_like(v) for k, v in params.items()}
    v2 = {k: torch.zeros_like(v) for k, v in params.items()}
    losses, first = np.zeros(cfg.steps), None
    for t in range(cfg.steps):
        grads, loss = step(params, int(depths[t]))
        losses[t] = loss.item()
        if t == 0:
            first = {k: g.numpy().copy() for k, g in grads.items()}
        for k in params:
            if cfg.optimizer == "sgd":
                params[k] = params[k] - cfg.lr * grads[k]
            else:
                m[k] = 0.9 * m[k] + (1 - 0.9) * grads[k]
                v2[k] = 0.999 * v2[k] + (1 - 0.999) * grads[k] * grads[k]
                m_hat, v_hat = m[k] / (1 - 0.9 ** (t + 1)), v2[k] / (1 - 0.999 ** (t + 1))
                params[k] = params[k] - cfg.lr * m_hat / (v_hat.sqrt() + 1e-8)
    return Result(losses=losses, init=init, params={k: v.numpy().copy() for k, v in params.items()}, grads=first,
                  depths=depths if cfg.model == "dynamic" else None)
