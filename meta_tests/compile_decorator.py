"""Correct: a learner's torch module, its step under the @torch.compile decorator (for
meta_tests/test_plugin.py: the framework's first-use set-up is not the module's doing)."""
import numpy as np
import torch

CONFIG = None


@torch.compile
def step(x, y, w1, w2, lr):
    h = x.mm(w1)
    h_relu = h.clamp(min=0)
    y_pred = h_relu.mm(w2)
    loss = (y_pred - y).pow(2).sum()
    grad_y_pred = 2.0 * (y_pred - y)
    grad_w2 = h_relu.t().mm(grad_y_pred)
    grad_h = grad_y_pred.mm(w2.t()) * (h > 0)
    grad_w1 = x.t().mm(grad_h)
    return loss, grad_w1, grad_w2, w1 - lr * grad_w1, w2 - lr * grad_w2


def train(x, y, cfg):
    from implementations.contract import Result, check, start
    shapes = check(x, y, cfg)
    dtype = getattr(torch, cfg.dtype)
    xt = torch.tensor(np.ascontiguousarray(x, dtype=cfg.dtype))
    yt = torch.tensor(np.ascontiguousarray(y, dtype=cfg.dtype))
    p = start(cfg, shapes)
    w1, w2 = torch.tensor(p["w1"]), torch.tensor(p["w2"])
    lr = torch.tensor(cfg.lr, dtype=dtype)
    losses, grads = np.zeros(cfg.steps), None
    for t in range(cfg.steps):
        loss, g1, g2, w1, w2 = step(xt, yt, w1, w2, lr)
        losses[t] = loss.item()
        if t == 0:
            grads = {"w1": g1.numpy().copy(), "w2": g2.numpy().copy()}
    return Result(losses=losses, init=p, params={"w1": w1.numpy().copy(), "w2": w2.numpy().copy()}, grads=grads)
