"""Correct, in another style: TensorFlow 2, eager. tf.Variable parameters, a tf.GradientTape per
step, updates by assign_sub (SGD, or Adam written out, stepping an unused parameter with a zero
gradient). Every structure of the contract. Imports TensorFlow inside train only.
"""
import numpy as np

from implementations.contract import Result, check, draw_depths, start

CONFIG = {"d_in": 100, "hidden": 1000}  # the TensorFlow cell
TAGS = ("tensorflow",)


def train(x, y, cfg):
    shapes = check(x, y, cfg, model=("two_layer", "dynamic"), bias=(False, True), loss=("sum", "mean"),
                   optimizer=("sgd", "adam"))
    import tensorflow as tf

    x = tf.constant(np.asarray(x, dtype=cfg.dtype))
    y = tf.constant(np.asarray(y, dtype=cfg.dtype))
    init = start(cfg, shapes, "randn") if cfg.init is None else \
        tf.nest.map_structure(lambda a: np.array(a, dtype=cfg.dtype), cfg.init)  # a given start, as a nest
    params = tf.nest.map_structure(tf.Variable, init)
    depths = draw_depths(cfg) if cfg.model == "dynamic" else np.zeros(cfg.steps, dtype=int)
    slots = {k: (tf.Variable(tf.zeros_like(v)), tf.Variable(tf.zeros_like(v))) for k, v in params.items()}

    def names(depth):
        if cfg.model == "two_layer":
            return [("w1", "b1"), ("w2", "b2")]
        return [("w_in", "b_in")] + [("w_mid", "b_mid")] * depth + [("w_out", "b_out")]

    losses, first = np.zeros(cfg.steps), None
    for t in range(cfg.steps):
        layers = names(int(depths[t]))
        with tf.GradientTape() as tape:
            h = x
            for i, (w, b) in enumerate(layers):
                h = tf.matmul(h, params[w]) + (params[b] if cfg.bias else 0)
                h = tf.nn.relu(h) if i < len(layers) - 1 else h
            sq = tf.square(h - y)
            loss = tf.reduce_sum(sq) if cfg.loss == "sum" else tf.reduce_mean(sq)
        keys = list(params)
        grads = dict(zip(keys, tape.gradient(loss, [params[k] for k in keys],
                                             unconnected_gradients=tf.UnconnectedGradients.ZERO)))
        losses[t] = float(loss.numpy())
        if t == 0:
            first = {k: g.numpy() for k, g in grads.items()}
        for k, p in params.items():
            g = grads[k]
            if cfg.optimizer == "sgd":
                p.assign_sub(cfg.lr * g)
                continue
            m, v = slots[k]
            m.assign(0.9 * m + 0.1 * g)
            v.assign(0.999 * v + 0.001 * g * g)
            p.assign_sub(cfg.lr * (m / (1 - 0.9 ** (t + 1))) / (tf.sqrt(v / (1 - 0.999 ** (t + 1))) + 1e-8))
    return Result(losses=losses, init=init, params={k: v.numpy() for k, v in params.items()}, grads=first,
                  depths=depths if cfg.model == "dynamic" else None)
