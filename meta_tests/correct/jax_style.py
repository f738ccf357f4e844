"""Correct, in another style: JAX. jax.value_and_grad of a pure loss, one jitted step per depth
with the learning rate and step number as arguments (nothing baked into the compiled code),
float64 inside jax.enable_x64 only. Every structure of the contract; Adam steps an unused
parameter with a zero gradient, as optax does.
"""
import functools

import numpy as np

from implementations.contract import Result, check, draw_depths, start

CONFIG = {"data": "uniform", "bias": True, "loss": "mean", "optimizer": "adam", "lr": 1e-2}  # the optim cell
TAGS = ("jax",)


def forward(params, x, model, depth):
    import jax.numpy as jnp

    names = [("w1", "b1"), ("w2", "b2")] if model == "two_layer" else \
        [("w_in", "b_in")] + [("w_mid", "b_mid")] * depth + [("w_out", "b_out")]
    h = x
    for i, (w, b) in enumerate(names):
        h = h @ params[w] + params[b] if b in params else h @ params[w]
        if i < len(names) - 1:
            h = jnp.maximum(h, 0)
    return h


@functools.cache
def stepper(model, loss, optimizer, depth):
    import jax
    import jax.numpy as jnp

    def loss_fn(params, x, y):
        err = forward(params, x, model, depth) - y
        return jnp.sum(err ** 2) if loss == "sum" else jnp.mean(err ** 2)

    @jax.jit
    def step(params, m, v, t, lr, x, y):
        value, grads = jax.value_and_grad(loss_fn)(params, x, y)
        if optimizer == "sgd":
            new = jax.tree_util.tree_map(lambda p, g: p - lr * g, params, grads)
            return new, m, v, value, grads
        m = jax.tree_util.tree_map(lambda a, g: 0.9 * a + 0.1 * g, m, grads)
        v = jax.tree_util.tree_map(lambda a, g: 0.999 * a + 0.001 * g * g, v, grads)
        new = jax.tree_util.tree_map(
            lambda p, a, b: p - lr * (a / (1 - 0.9 ** t)) / (jnp.sqrt(b / (1 - 0.999 ** t)) + 1e-8), params, m, v)
        return new, m, v, value, grads

    return step


def train(x, y, cfg):
    shapes = check(x, y, cfg, model=("two_layer", "dynamic"), bias=(False, True), loss=("sum", "mean"),
                   optimizer=("sgd", "adam"))
    import jax
    import jax.numpy as jnp

    init = start(cfg, shapes, "linear")
    depths = draw_depths(cfg) if cfg.model == "dynamic" else np.zeros(cfg.steps, dtype=int)
    losses, first = np.zeros(cfg.steps), None
    with jax.enable_x64(cfg.dtype == "float64"):
        xs, ys = jnp.asarray(np.asarray(x, dtype=cfg.dtype)), jnp.asarray(np.asarray(y, dtype=cfg.dtype))
        params = {k: jnp.asarray(v) for k, v in init.items()}
        m = {k: jnp.zeros_like(v) for k, v in params.items()}
        v = {k: jnp.zeros_like(a) for k, a in params.items()}
        lr = jnp.asarray(cfg.lr, dtype=cfg.dtype)
        for t in range(cfg.steps):
            step = stepper(cfg.model, cfg.loss, cfg.optimizer, int(depths[t]))
            params, m, v, loss, grads = step(params, m, v, jnp.asarray(t + 1, dtype=cfg.dtype), lr, xs, ys)
            losses[t] = float(loss)
            if t == 0:
                first = {k: np.array(g) for k, g in grads.items()}
        params = {k: np.array(a) for k, a in params.items()}
    return Result(losses=losses, init=init, params=params, grads=first,
                  depths=depths if cfg.model == "dynamic" else None)
