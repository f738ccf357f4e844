"""A plug-in as a learner might write it: the nn.Sequential cell in plain NumPy.

It imports nothing from the suite, reads cfg by attribute, returns a plain dict, and does
its own input checks. The suite's self-test runs the whole suite on it and expects a pass:
`pytest --impl meta_tests/correct/student.py`.
"""
import copy

import numpy as np

CONFIG = {"data": "uniform", "bias": True, "loss": "mean", "lr": 1e-2}
TAGS = ("nn", "numpy")


def _checked(x, y, cfg):
    for name, a in (("x", x), ("y", y)):
        if not isinstance(a, np.ndarray):
            raise TypeError(f"{name} must be a numpy array, not {type(a).__name__}")
        if a.ndim != 2:
            raise ValueError(f"{name} must be 2-D, got shape {a.shape}")
        if not np.isfinite(a).all():
            raise ValueError(f"{name} holds NaN or Inf")
    if len(x) != len(y):
        raise ValueError("x and y have different numbers of rows")
    if (cfg.model, cfg.bias, cfg.loss, cfg.optimizer) != ("two_layer", True, "mean", "sgd"):
        raise NotImplementedError("only model, bias, loss, optimizer = two_layer, True, mean, sgd")
    if isinstance(cfg.lr, bool) or not isinstance(cfg.lr, (int, float, np.number)):
        raise TypeError(f"lr must be a number, not {type(cfg.lr).__name__}")
    if not cfg.lr > 0 or not np.isfinite(cfg.lr):
        raise ValueError("lr must be positive")
    if isinstance(cfg.steps, bool) or not isinstance(cfg.steps, (int, np.integer)) or cfg.steps < 0:
        raise ValueError("steps must be >= 0")
    if cfg.dtype not in ("float32", "float64"):
        raise ValueError(f"unsupported dtype {cfg.dtype}")
    if cfg.device != "cpu":
        raise ValueError(f"device {cfg.device} unavailable: NumPy runs on the CPU")
    # biases first: the order of a result's keys is the module's own business
    shapes = {"b1": (cfg.hidden,), "b2": (y.shape[1],), "w1": (x.shape[1], cfg.hidden), "w2": (cfg.hidden, y.shape[1])}
    if cfg.init is not None:
        if set(cfg.init) != set(shapes):
            raise ValueError(f"init has keys {sorted(cfg.init)}, expected {sorted(shapes)}")
        for k, s in shapes.items():
            if k not in cfg.init or np.shape(cfg.init[k]) != s:
                raise ValueError(f"init {k} missing or not of shape {s}")
            if not np.isfinite(cfg.init[k]).all():
                raise ValueError(f"init {k} holds NaN or Inf")
    return shapes


def train(x, y, cfg):
    shapes = _checked(x, y, cfg)
    x, y = np.array(x, dtype=cfg.dtype), np.array(y, dtype=cfg.dtype)
    if cfg.init is not None:
        init = copy.deepcopy(cfg.init)  # a copy of its own
        p = {k: np.array(init[k], dtype=cfg.dtype) for k in shapes}
    else:
        rng = np.random.default_rng(cfg.seed)
        bound = {"w1": x.shape[1], "b1": x.shape[1], "w2": cfg.hidden, "b2": cfg.hidden}
        p = {k: (rng.uniform(-1, 1, s) / np.sqrt(bound[k])).astype(cfg.dtype) for k, s in shapes.items()}
    out = {"init": {k: v.copy() for k, v in p.items()}, "losses": []}
    lr, steps = np.dtype(cfg.dtype).type(cfg.lr), np.int64(cfg.steps)  # NumPy numbers, as array code has them
    for t in range(steps):
        a = x @ p["w1"] + p["b1"]
        r = np.where(a > 0, a, 0)
        e = r @ p["w2"] + p["b2"] - y
        out["losses"].append(float(np.mean(e * e)))
        d = 2 * e / e.size
        da = (d @ p["w2"].T) * (a > 0)
        g = {"w1": x.T @ da, "b1": da.sum(0), "w2": r.T @ d, "b2": d.sum(0)}
        if t == 0:
            out["grads"] = g
        p = {k: p[k] - lr * g[k] for k in p}
    out["params"] = p
    out["note"] = f"{cfg.steps} steps of plain NumPy"  # a key of its own: the suite reads only the contract's
    out["losses"] = np.array(out["losses"])
    return out
