"""Correct, in another style: JAX, training as a compiled jax.lax.scan over the steps. It imports
nothing from the suite: its own input checks, init and depths drawn with jax.random from
cfg.seed. The dynamic model runs the shared layer max(depths) times and masks the passes past
each step's depth (jnp.where), so one program serves every depth; a masked-out layer gets a zero
gradient and Adam steps it (optax's convention). The scan runs CHUNK steps per call, the steps
past cfg.steps masked out, so that one program serves every step count. The optim cell's biases
and mean loss, in both models and with both optimizers; the other structures are refused with
NotImplementedError naming the field.
"""
import functools
import math

import numpy as np

CONFIG = {"data": "uniform", "bias": True, "loss": "mean", "optimizer": "adam", "lr": 1e-2}  # the optim cell
TAGS = ("jax",)
CHUNK = 64  # steps per call of the compiled scan: one program serves every step count

FIELDS = {"model": ("two_layer", "dynamic"), "bias": (True,), "loss": ("mean",), "optimizer": ("sgd", "adam")}


def names(model, bias):
    layers = ("1", "2") if model == "two_layer" else ("_in", "_mid", "_out")
    return [p + s for s in layers for p in (("w", "b") if bias else ("w",))]


def shapes(cfg, d_in, d_out):
    h = cfg.hidden
    if cfg.model == "two_layer":
        s = {"w1": (d_in, h), "b1": (h,), "w2": (h, d_out), "b2": (d_out,)}
    else:
        s = {"w_in": (d_in, h), "b_in": (h,), "w_mid": (h, h), "b_mid": (h,), "w_out": (h, d_out), "b_out": (d_out,)}
    return {k: s[k] for k in names(cfg.model, cfg.bias)}


def validate(x, y, cfg):
    for field, allowed in FIELDS.items():
        if getattr(cfg, field) not in allowed:
            raise NotImplementedError(f"{field}={getattr(cfg, field)!r} is not implemented")
    for name, a in (("inputs", x), ("targets", y)):  # its messages name x and y in its own words
        if not isinstance(a, np.ndarray):
            raise TypeError(f"{name} must be a numpy array, not {type(a).__name__}")
        if a.ndim != 2 or a.shape[0] < 1 or a.shape[1] < 1:
            raise ValueError(f"{name} must be 2-D with sizes >= 1, got shape {a.shape}")
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{name} holds NaN or Inf")
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"{x.shape[0]} inputs but {y.shape[0]} targets")
    if cfg.dtype not in ("float32", "float64"):
        raise ValueError(f"precision {cfg.dtype!r} is not supported: use float32 or float64")
    if cfg.device != "cpu":
        raise ValueError(f"device {cfg.device!r}: this module runs on the cpu only")
    if isinstance(cfg.steps, bool) or not isinstance(cfg.steps, (int, np.integer)) or cfg.steps < 0:
        raise ValueError(f"steps must be an integer >= 0, got {cfg.steps!r}")
    if isinstance(cfg.lr, bool) or not isinstance(cfg.lr, (int, float, np.integer, np.floating)) or \
            not math.isfinite(cfg.lr) or cfg.lr <= 0:
        raise ValueError(f"lr must be a positive finite number, got {cfg.lr!r}")
    want = shapes(cfg, x.shape[1], y.shape[1])
    if cfg.init is not None:
        if set(cfg.init) != set(want):
            raise ValueError(f"init has keys {sorted(cfg.init)}, expected {sorted(want)}")
        for k, s in want.items():
            if np.shape(cfg.init[k]) != s:
                raise ValueError(f"init[{k!r}] has shape {np.shape(cfg.init[k])}, expected {s}")
            if not np.all(np.isfinite(cfg.init[k])):
                raise ValueError(f"init[{k!r}] holds NaN or Inf")
    if cfg.model == "dynamic" and cfg.depths is not None:
        d = np.asarray(cfg.depths)
        if d.shape != (cfg.steps,) or (d.size and (d.min() < 0 or d.max() > cfg.max_depth)):
            raise ValueError(f"depths must be {cfg.steps} integers in 0..max_depth={cfg.max_depth}")
    return want


def forward(p, x, model, bias, depth, passes):
    import jax.numpy as jnp

    def layer(h, w, b):
        return h @ p[w] + p[b] if bias else h @ p[w]

    if model == "two_layer":
        return layer(jnp.maximum(layer(x, "w1", "b1"), 0), "w2", "b2")
    h = jnp.maximum(layer(x, "w_in", "b_in"), 0)
    for i in range(passes):  # the shared layer, reused; passes past this step's depth are masked out
        h = jnp.where(i < depth, jnp.maximum(layer(h, "w_mid", "b_mid"), 0), h)
    return layer(h, "w_out", "b_out")


@functools.cache
def program(model, bias, loss, optimizer, passes):
    import jax
    import jax.numpy as jnp

    def loss_fn(p, x, y, depth):
        err = forward(p, x, model, bias, depth, passes) - y
        return jnp.sum(err * err) if loss == "sum" else jnp.mean(err * err)

    @jax.jit
    def run(p, m, v, x, y, ts, depths, lr, last):
        def step(carry, inputs):
            p, m, v = carry
            t, depth = inputs
            value, g = jax.value_and_grad(loss_fn)(p, x, y, depth)
            if optimizer == "sgd":
                new = {k: p[k] - lr * g[k] for k in p}
            else:
                m = {k: jnp.where(t <= last, 0.9 * m[k] + 0.1 * g[k], m[k]) for k in p}
                v = {k: jnp.where(t <= last, 0.999 * v[k] + 0.001 * g[k] * g[k], v[k]) for k in p}
                new = {k: p[k] - lr * (m[k] / (1 - 0.9 ** t)) / (jnp.sqrt(v[k] / (1 - 0.999 ** t)) + 1e-8) for k in p}
            p = {k: jnp.where(t <= last, new[k], p[k]) for k in p}  # a padding step changes nothing
            return (p, m, v), (value, g)

        (p, m, v), (values, grads) = jax.lax.scan(step, (p, m, v), (ts, depths))
        return p, m, v, values, {k: g[0] for k, g in grads.items()}

    return run


def train(x, y, cfg):
    want = validate(x, y, cfg)
    import jax
    import jax.numpy as jnp

    steps, dyn = int(cfg.steps), cfg.model == "dynamic"
    key = jax.random.key(cfg.seed)
    k_init, k_depth = jax.random.split(key)
    with jax.enable_x64(cfg.dtype == "float64"):
        if cfg.init is not None:
            init = {k: np.array(cfg.init[k], dtype=cfg.dtype) for k in want}
        else:  # uniform +-1/sqrt(fan_in), as nn.Linear draws
            keys = jax.random.split(k_init, len(want))
            init = {k: np.array(jax.random.uniform(kk, s, dtype=cfg.dtype, minval=-1, maxval=1))
                    / np.sqrt(s[0] if k.startswith("w") else want["w" + k[1:]][0]).astype(cfg.dtype)
                    for kk, (k, s) in zip(keys, want.items())}
        if not dyn:
            depths = np.zeros(steps, dtype=np.int64)
        elif cfg.depths is not None:
            depths = np.array(cfg.depths, dtype=np.int64).reshape(steps)
        else:
            depths = np.array(jax.random.randint(k_depth, (steps,), 0, cfg.max_depth + 1), dtype=np.int64)
        if steps == 0:
            params = {k: a.copy() for k, a in init.items()}
            return {"losses": np.zeros(0, dtype=cfg.dtype), "init": init, "params": params,
                    **({"depths": depths} if dyn else {})}
        passes = int(depths.max()) if dyn else 0
        run = program(cfg.model, cfg.bias, cfg.loss, cfg.optimizer, passes)
        xs = jnp.asarray(np.asarray(x, dtype=cfg.dtype))
        ys = jnp.asarray(np.asarray(y, dtype=cfg.dtype))
        lr, last = jnp.asarray(cfg.lr, dtype=cfg.dtype), jnp.asarray(steps, dtype=cfg.dtype)
        p = {k: jnp.asarray(a) for k, a in init.items()}
        m = v = {k: jnp.zeros_like(a) for k, a in p.items()}
        chunks = -(-steps // CHUNK)
        padded = np.pad(depths, (0, chunks * CHUNK - steps))
        losses, grads = [], None
        for c in range(chunks):  # CHUNK steps per call of the compiled scan
            ts = jnp.arange(c * CHUNK + 1, (c + 1) * CHUNK + 1, dtype=cfg.dtype)
            p, m, v, values, g = run(p, m, v, xs, ys, ts, jnp.asarray(padded[c * CHUNK:(c + 1) * CHUNK]), lr, last)
            losses.append(np.array(values))
            grads = g if grads is None else grads
        out = {"losses": np.concatenate(losses)[:steps], "init": init, "params": {k: np.array(a) for k, a in p.items()},
               "grads": {k: np.array(a) for k, a in grads.items()}}
    if dyn:
        out["depths"] = depths
    return out
