"""Correct, in another style: Keras 3 on TensorFlow. keras.layers.Dense layers (their kernels are
already (in, out), the canonical layout) built in cfg.dtype and set to the start with
set_weights, a tf.GradientTape per step, and the updates written out with assign_sub: Keras'
optimizers keep learning_rate as a float32 variable (a float64 run would step with cfg.lr
rounded to float32), and Keras' Adam adds epsilon before the bias correction, which is not the
contract's update. The dynamic model reuses one Dense layer; at depth 0 its gradients are None
and Adam skips it, as torch.optim does. It imports nothing from the suite: its own input checks,
init and depths drawn with NumPy from cfg.seed. The TensorFlow cell's sum loss, in every other
combination (8 structures); a mean loss is refused with NotImplementedError naming the value
("'mean' is not implemented").
"""
import math

import numpy as np

CONFIG = {"d_in": 100, "hidden": 1000}  # the TensorFlow cell
TAGS = ("keras", "tensorflow")

FIELDS = {"model": ("two_layer", "dynamic"), "bias": (False, True), "loss": ("sum",), "optimizer": ("sgd", "adam")}
LAYERS = {"two_layer": ("1", "2"), "dynamic": ("_in", "_mid", "_out")}


def shapes(cfg, d_in, d_out):
    h = int(cfg.hidden)  # Keras takes a Python int for units, not a NumPy integer
    ins, outs = (d_in, h), (h, d_out)
    sizes = dict(zip(LAYERS[cfg.model], [ins, outs] if cfg.model == "two_layer" else [ins, (h, h), outs]))
    out = {}
    for s, (n_in, n_out) in sizes.items():
        out["w" + s] = (n_in, n_out)
        if cfg.bias:
            out["b" + s] = (n_out,)
    return out


def validate(x, y, cfg):
    for field, allowed in FIELDS.items():
        if getattr(cfg, field) not in allowed:
            raise NotImplementedError(f"{getattr(cfg, field)!r} is not implemented, only {allowed}")  # names the value
    for name, a in (("x", x), ("y", y)):
        if not isinstance(a, np.ndarray):
            raise TypeError(f"{name} must be a numpy array, not {type(a).__name__}")
        if a.ndim != 2 or 0 in a.shape:
            raise ValueError(f"{name} must be 2-D with sizes >= 1, got shape {a.shape}")
        if not np.isfinite(a).all():
            raise ValueError(f"{name} holds NaN or Inf")
    if len(x) != len(y):
        raise ValueError(f"len(y) = {len(y)} != len(x) = {len(x)}")
    if cfg.dtype not in ("float32", "float64"):
        raise ValueError(f"dtype {cfg.dtype!r} is not float32 or float64")
    if cfg.device != "cpu":
        raise ValueError(f"device {cfg.device!r}: only the cpu is used")
    if isinstance(cfg.steps, bool) or not isinstance(cfg.steps, (int, np.integer)) or cfg.steps < 0:
        raise ValueError(f"steps must be an integer >= 0, got {cfg.steps!r}")
    if isinstance(cfg.lr, bool) or not isinstance(cfg.lr, (int, float, np.integer, np.floating)) or \
            not (math.isfinite(cfg.lr) and cfg.lr > 0):
        raise ValueError(f"lr must be positive and finite, got {cfg.lr!r}")
    want = shapes(cfg, x.shape[1], y.shape[1])
    if cfg.init is not None:
        for k in sorted(set(want) | set(cfg.init)):
            if k not in want or k not in cfg.init:
                raise ValueError(f"init key {k!r}: expected exactly {sorted(want)}")
            a = np.asarray(cfg.init[k])
            if a.shape != want[k] or not np.isfinite(a).all():
                raise ValueError(f"init[{k!r}] must be finite of shape {want[k]}, got {a.shape}")
    if cfg.model == "dynamic" and cfg.depths is not None:
        if len(cfg.depths) != cfg.steps or any(not 0 <= int(d) <= cfg.max_depth for d in cfg.depths):
            raise ValueError(f"depths: need {cfg.steps} values in 0..{cfg.max_depth}")
    return want


def train(x, y, cfg):
    want = validate(x, y, cfg)
    import keras
    import tensorflow as tf
    from keras import ops

    rng = np.random.default_rng(cfg.seed)
    if cfg.init is not None:
        init = {k: np.array(cfg.init[k], dtype=cfg.dtype) for k in want}
    else:  # randn scaled by 1/sqrt(fan_in)
        init = {k: (rng.standard_normal(s) / math.sqrt(want["w" + k[1:]][0])).astype(cfg.dtype)
                for k, s in want.items()}
    if cfg.model == "dynamic":
        depths = (np.array(cfg.depths, dtype=np.int64) if cfg.depths is not None
                  else rng.integers(0, cfg.max_depth + 1, cfg.steps))
    else:
        depths = np.zeros(cfg.steps, dtype=np.int64)

    # One Dense layer per canonical layer, built for (., n_in) inputs and set to the start.
    dense = {}
    for s in LAYERS[cfg.model]:
        n_in, n_out = want["w" + s]
        dense[s] = keras.layers.Dense(n_out, use_bias=cfg.bias, dtype=cfg.dtype)
        dense[s].build((None, n_in))
        dense[s].set_weights([init["w" + s]] + ([init["b" + s]] if cfg.bias else []))
    variables = {p + s: (layer.kernel if p == "w" else layer.bias) for s, layer in dense.items()
                 for p in ("w", "b") if p == "w" or cfg.bias}

    xs = tf.constant(np.asarray(x, dtype=cfg.dtype))
    ys = tf.constant(np.asarray(y, dtype=cfg.dtype))
    slots = {k: [np.zeros(v.shape, cfg.dtype), np.zeros(v.shape, cfg.dtype), 0] for k, v in variables.items()}

    losses, first = np.zeros(cfg.steps, dtype=cfg.dtype), None
    for t in range(cfg.steps):
        order = ["_in"] + ["_mid"] * int(depths[t]) + ["_out"] if cfg.model == "dynamic" else ["1", "2"]
        with tf.GradientTape() as tape:
            h = xs
            for i, s in enumerate(order):
                h = dense[s](h)
                if i < len(order) - 1:
                    h = ops.relu(h)
            sq = ops.square(h - ys)
            loss = ops.sum(sq) if cfg.loss == "sum" else ops.mean(sq)
        keys = list(variables)
        grads = dict(zip(keys, tape.gradient(loss, [variables[k] for k in keys])))
        losses[t] = float(loss)
        if t == 0:
            first = {k: np.zeros(variables[k].shape, cfg.dtype) if g is None else np.array(g) for k, g in grads.items()}
        used = [k for k in keys if grads[k] is not None]
        if cfg.optimizer == "sgd":
            for k in used:
                variables[k].assign_sub(cfg.lr * grads[k])
            continue
        for k in used:  # Adam, torch.optim's update; a layer this step did not use is skipped
            m, v, n = slots[k]
            g = np.array(grads[k])
            n += 1
            m = 0.9 * m + 0.1 * g
            v = 0.999 * v + 0.001 * g * g
            slots[k] = [m, v, n]
            step = cfg.lr * (m / (1 - 0.9 ** n)) / (np.sqrt(v / (1 - 0.999 ** n)) + 1e-8)
            variables[k].assign_sub(step.astype(cfg.dtype))
    out = {"losses": losses, "init": init, "params": {k: np.array(v.numpy()) for k, v in variables.items()}}
    if first is not None:
        out["grads"] = first
    if cfg.model == "dynamic":
        out["depths"] = depths
    return out
