"""Correct, in another style: JAX with optax, as JAX users train. jax.value_and_grad of a pure
loss, optax.sgd or optax.adam for the update. The learning rate lives in the optimizer's state
(optax.inject_hyperparams), so one jitted step per structure and depth serves every learning
rate. optax steps a parameter the step did not use with its zero gradient: the contract's first
Adam convention, from optax itself (the contract names it). Every structure of the contract.
"""
import functools

import numpy as np

from implementations.contract import Result, check, draw_depths, start

CONFIG = {"data": "uniform", "bias": True, "loss": "mean", "optimizer": "adam", "lr": 1e-2}  # the optim cell
TAGS = ("jax", "optax")


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


def optimizer(name, lr):
    import optax

    if name == "sgd":
        return optax.inject_hyperparams(optax.sgd)(learning_rate=lr)
    return optax.inject_hyperparams(optax.adam)(learning_rate=lr, b1=0.9, b2=0.999, eps=1e-8)


@functools.cache
def stepper(model, loss, name, depth):
    import jax
    import jax.numpy as jnp
    import optax

    opt = optimizer(name, 0.0)  # the update reads the learning rate from the state it is given

    def loss_fn(params, x, y):
        err = forward(params, x, model, depth) - y
        return jnp.sum(err ** 2) if loss == "sum" else jnp.mean(err ** 2)

    @jax.jit
    def step(params, state, x, y):
        value, grads = jax.value_and_grad(loss_fn)(params, x, y)
        updates, state = opt.update(grads, state, params)
        return optax.apply_updates(params, updates), state, value, grads

    return step


def train(x, y, cfg):
    shapes = check(x, y, cfg, model=("two_layer", "dynamic"), bias=(False, True), loss=("sum", "mean"),
                   optimizer=("sgd", "adam"))
    import jax
    import jax.numpy as jnp

    # a given start as a pytree (the suite's cfg.init is a plain dict, as a caller's would be)
    init = start(cfg, shapes, "linear") if cfg.init is None else \
        jax.tree_util.tree_map(lambda a: np.array(a, dtype=cfg.dtype), cfg.init)
    depths = draw_depths(cfg) if cfg.model == "dynamic" else np.zeros(cfg.steps, dtype=int)
    losses, first = np.zeros(cfg.steps, dtype=cfg.dtype), None
    with jax.enable_x64(cfg.dtype == "float64"):
        xs, ys = jnp.asarray(np.asarray(x, dtype=cfg.dtype)), jnp.asarray(np.asarray(y, dtype=cfg.dtype))
        params = jax.tree_util.tree_map(jnp.asarray, init)
        state = optimizer(cfg.optimizer, jnp.asarray(cfg.lr, dtype=cfg.dtype)).init(params)
        for t in range(cfg.steps):
            step = stepper(cfg.model, cfg.loss, cfg.optimizer, int(depths[t]))
            params, state, loss, grads = step(params, state, xs, ys)
            losses[t] = loss
            if t == 0:
                first = {k: np.array(g) for k, g in grads.items()}
        params = {k: np.array(a) for k, a in params.items()}
    return Result(losses=losses, init=init, params=params, grads=first,
                  depths=depths if cfg.model == "dynamic" else None)
