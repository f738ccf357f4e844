"""Correct, in another style: NumPy with np.einsum, every structure of the contract.

Parameters live in one dict; the backward pass walks the layers in reverse with einsum
contractions; Adam keeps its moments per name and steps a parameter the step did not use with
a zero gradient (the contract's "step" convention, as optax does).
"""
import logging

import numpy as np

from implementations.contract import Result, check, draw_depths, start

# a library's own logger, set up as the logging HOWTO advises: a NullHandler and nothing else
log = logging.getLogger(__name__)
log.addHandler(logging.NullHandler())

CONFIG = {"model": "dynamic", "data": "uniform", "bias": True, "loss": "mean", "lr": 1e-2}  # the DynamicNet cell
TAGS = ("numpy",)


def layer_names(model, depth):
    if model == "two_layer":
        return [("w1", "b1"), ("w2", "b2")]
    return [("w_in", "b_in")] + [("w_mid", "b_mid")] * depth + [("w_out", "b_out")]


def loss_and_grads(p, x, y, cfg, depth):
    names = layer_names(cfg.model, depth)
    acts, pres = [x], []
    for i, (w, b) in enumerate(names):
        z = np.einsum("ni,io->no", acts[-1], p[w]) + (p[b] if cfg.bias else 0)
        if i < len(names) - 1:
            pres.append(z)
            z = np.where(z > 0, z, 0)
        acts.append(z)
    err = acts[-1] - y
    scale = 1.0 if cfg.loss == "sum" else 1.0 / err.size
    loss = np.einsum("no,no->", err, err) * scale
    delta = 2 * scale * err
    grads = {k: np.zeros_like(v) for k, v in p.items()}
    for i in range(len(names) - 1, -1, -1):
        w, b = names[i]
        grads[w] += np.einsum("ni,no->io", acts[i], delta)
        if cfg.bias:
            grads[b] += np.einsum("no->o", delta)
        if i:
            delta = np.einsum("no,io->ni", delta, p[w]) * (pres[i - 1] > 0)
    return loss, grads


def train(x, y, cfg):
    shapes = check(x, y, cfg, model=("two_layer", "dynamic"), bias=(False, True), loss=("sum", "mean"),
                   optimizer=("sgd", "adam"))
    x, y = np.array(x, dtype=cfg.dtype), np.array(y, dtype=cfg.dtype)
    log.debug("training %s, %s steps", cfg.model, cfg.steps)
    p = start(cfg, shapes, "linear")
    init = {k: v.copy() for k, v in p.items()}
    depths = draw_depths(cfg) if cfg.model == "dynamic" else np.zeros(cfg.steps, dtype=int)
    m = {k: np.zeros_like(v) for k, v in p.items()}
    v = {k: np.zeros_like(a) for k, a in p.items()}
    losses, first = np.zeros(cfg.steps), None
    lr = float(cfg.lr)  # a NumPy float64 lr would turn a float32 run's parameters into float64
    for t in range(cfg.steps):
        losses[t], g = loss_and_grads(p, x, y, cfg, int(depths[t]))
        first = {k: a.copy() for k, a in g.items()} if t == 0 else first
        for k in p:
            if cfg.optimizer == "sgd":
                p[k] = p[k] - lr * g[k]
            else:
                m[k] = 0.9 * m[k] + 0.1 * g[k]
                v[k] = 0.999 * v[k] + 0.001 * g[k] ** 2
                p[k] = p[k] - lr * (m[k] / (1 - 0.9 ** (t + 1))) / (np.sqrt(v[k] / (1 - 0.999 ** (t + 1))) + 1e-8)
    return Result(losses=losses, init=init, params=p, grads=first,
                  depths=depths if cfg.model == "dynamic" else None)
