"""The suite's data: x and y as the contract describes them, and the memory layouts they may come in."""
import hashlib

import numpy as np

LAYOUTS = ("C", "fortran", "strided", "reversed")  # each may also be read-only

# The sizes and precision at which structures besides the cell's are probed and checked (any
# sizes are valid): one shape for all, so that a module that compiles per shape, precision and
# depth compiles each structure's graphs once, in the probe, and reuses them in the checks.
SMALL = {"batch": 8, "d_in": 12, "hidden": 9, "d_out": 3}
SMALL_DTYPE = "float64"


def make_data(cfg, seed: int, shape=None, dtype=None):
    """x (N, D_in) and y (N, D_out) for cfg: x from cfg.data (randn or U(-1, 1)), y randn.

    shape = (N, D_in, D_out) overrides cfg.batch, cfg.d_in, cfg.d_out (which only say what
    data to make); dtype overrides cfg.dtype."""
    n, d_in, d_out = shape or (cfg.batch, cfg.d_in, cfg.d_out)
    rng = np.random.default_rng([seed, 7])
    x = rng.standard_normal((n, d_in)) if cfg.data == "normal" else rng.uniform(-1, 1, (n, d_in))
    y = rng.standard_normal((n, d_out))
    dtype = dtype or cfg.dtype
    return x.astype(dtype), y.astype(dtype)


def laid_out(a: np.ndarray, layout: str, readonly: bool = False) -> np.ndarray:
    """The values of a (1-D or 2-D) in another memory layout: C order, Fortran order, a strided
    view into a larger array, or a view with negative strides; read-only if asked (so that an
    in-place write raises)."""
    if layout == "C":
        out = np.ascontiguousarray(a).copy()
    elif layout == "fortran":
        out = np.asfortranarray(a).copy(order="F")
    elif layout == "strided":
        big = np.zeros(tuple(2 * n for n in a.shape), dtype=a.dtype)
        view = tuple(slice(1, None, 2) for _ in a.shape)
        big[view] = a
        out = big[view]
    elif layout == "reversed":
        flip = tuple(slice(None, None, -1) for _ in a.shape)
        out = np.ascontiguousarray(a[flip])[flip]
    else:
        raise ValueError(f"unknown layout {layout!r}; expected one of {LAYOUTS}")
    if readonly:
        out.flags.writeable = False
    return out


def describe(a: np.ndarray) -> str:
    """'(5, 3) float64 fortran, read-only': what a user needs to build the same array."""
    if a.flags.c_contiguous:
        kind = "C order"
    elif a.flags.f_contiguous:
        kind = "Fortran order"
    elif any(s < 0 for s in a.strides):
        kind = f"negative strides {a.strides}"
    else:
        kind = f"strided view {a.strides}"
    return f"{a.shape} {a.dtype} {kind}" + ("" if a.flags.writeable else ", read-only")


def digest(x, y, cfg) -> str:
    """A fingerprint of a call's inputs (x, y and every field of cfg, its init's arrays too)."""
    h = hashlib.sha256()
    for a in (x, y):
        h.update(repr((a.shape, str(a.dtype))).encode())
        h.update(np.ascontiguousarray(a).tobytes())
    for name, value in cfg.asdict().items():
        if name == "init" and value is not None:
            for k in sorted(value):
                h.update(k.encode())
                h.update(np.ascontiguousarray(value[k]).tobytes())
        else:
            h.update(f"{name}={value!r};".encode())
    return h.hexdigest()
