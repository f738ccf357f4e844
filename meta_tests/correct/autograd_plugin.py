"""Correct, as a learner writes the autograd cell for a plug-in: PyTorch tensors and autograd,
nothing imported from the suite. x and y are made contiguous first (they may come in any layout,
negative strides included, which torch refuses); a given init is converted with torch.tensor, the
tutorial's idiom (the suite gives it in C or Fortran order or strided: once it gave negative
strides, and this module failed every run). The plain cell's structure only; the start drawn from
a torch.Generator seeded with cfg.seed.
"""
import numpy as np
import torch

CONFIG = {"d_in": 1000, "hidden": 100}  # the autograd cell
TAGS = ("autograd", "torch")


def train(x, y, cfg):
    if (cfg.model, cfg.bias, cfg.loss, cfg.optimizer) != ("two_layer", False, "sum", "sgd"):
        raise NotImplementedError(f"only the plain cell, not model={cfg.model!r} bias={cfg.bias!r} "
                                  f"loss={cfg.loss!r} optimizer={cfg.optimizer!r}")
    for name, a in (("x", x), ("y", y)):
        if not isinstance(a, np.ndarray):
            raise TypeError(f"{name} must be a numpy array")
        if a.ndim != 2 or not np.isfinite(a).all():
            raise ValueError(f"{name} must be 2-D and finite")
    if len(x) != len(y):
        raise ValueError("x and y: different N")
    if isinstance(cfg.steps, bool) or not isinstance(cfg.steps, (int, np.integer)):
        raise TypeError("steps must be an integer")
    if cfg.steps < 0:
        raise ValueError("steps must be >= 0")
    if isinstance(cfg.lr, bool) or not isinstance(cfg.lr, (int, float, np.integer, np.floating)):
        raise TypeError(f"lr must be a real number, got {cfg.lr!r}")
    if not (cfg.lr > 0 and np.isfinite(cfg.lr)):
        raise ValueError("lr must be positive and finite")
    if cfg.dtype not in ("float32", "float64"):
        raise ValueError(f"dtype {cfg.dtype!r}")
    if cfg.device != "cpu":
        raise ValueError(f"device {cfg.device!r} unavailable")
    shapes = {"w1": (x.shape[1], cfg.hidden), "w2": (cfg.hidden, y.shape[1])}
    if cfg.init is not None:
        for k in sorted(set(shapes) | set(cfg.init)):
            if k not in shapes or k not in cfg.init:
                raise ValueError(f"init key {k!r}: expected exactly {sorted(shapes)}")
            if np.shape(cfg.init[k]) != shapes[k] or not np.isfinite(cfg.init[k]).all():
                raise ValueError(f"init {k}: shape {shapes[k]} and finite")
    dtype = getattr(torch, cfg.dtype)
    x = torch.as_tensor(np.ascontiguousarray(x), dtype=dtype)
    y = torch.as_tensor(np.ascontiguousarray(y), dtype=dtype)
    if cfg.init is not None:
        w = {k: torch.tensor(cfg.init[k], dtype=dtype) for k in shapes}
    else:
        g = torch.Generator().manual_seed(int(cfg.seed))  # it takes a Python int only
        w = {k: torch.randn(s, generator=g, dtype=dtype) for k, s in shapes.items()}
    init = {k: v.numpy().copy() for k, v in w.items()}
    for v in w.values():
        v.requires_grad_(True)
    losses, first = [], None
    for t in range(cfg.steps):
        loss = (x.mm(w["w1"]).clamp(min=0).mm(w["w2"]) - y).pow(2).sum()
        losses.append(loss.item())
        loss.backward()
        with torch.no_grad():
            if t == 0:
                first = {k: v.grad.numpy().copy() for k, v in w.items()}
            for v in w.values():
                v -= cfg.lr * v.grad
                v.grad.zero_()
    return {"losses": np.array(losses, dtype=cfg.dtype), "init": init,
            "params": {k: v.detach().numpy().copy() for k, v in w.items()}, "grads": first}
