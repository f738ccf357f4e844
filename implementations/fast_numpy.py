"""Fast: NumPy, as close to the matmuls alone as it gets.

The warm-up loop with nothing spent outside BLAS that can be avoided: every buffer is allocated
once, every product writes into its buffer (`out=`), every elementwise step runs in place, and
the learning rate (and the loss's factor 2) scales the small N x D_out error instead of the big
gradients. The loop runs on the transposes of x, w1 and h (h^T = w1^T x^T, w1^T -= grad_h^T x):
OpenBLAS runs both big products faster that way round, most of all on two threads. Each update is
fused into its gradient's product: NumPy has no gemm with beta, so the module calls the one in
NumPy's own OpenBLAS (w := w - a b: one pass over each weight fewer), and falls back to a product
and a subtraction where that library is not found.

(Tried and dropped: SciPy's BLAS gemm for the same fusion. SciPy ships its own OpenBLAS, which
ran these shapes slower than NumPy's, and two BLAS thread pools fight over the same cores.)
"""
import ctypes
import functools
import os

import numpy as np

from implementations.contract import Result, check, start

CONFIG = None  # the warm-up cell: N, D_in, H, D_out = 64, 1000, 100, 10; lr 1e-6; 500 steps
TAGS = ("fast", "numpy")


def train(x, y, cfg):
    shapes = check(x, y, cfg)

    # Our own copies of the data, in the requested precision.
    x, y = np.ascontiguousarray(x, dtype=cfg.dtype), np.ascontiguousarray(y, dtype=cfg.dtype)
    N, D_in, H, D_out = x.shape[0], x.shape[1], cfg.hidden, y.shape[1]

    p = start(cfg, shapes)
    init = {k: v.copy() for k, v in p.items()}
    w1, w2 = p["w1"], p["w2"]
    learning_rate = cfg.lr

    # The big products' operands transposed, C-ordered: x^T (D_in x N) and w1^T (H x D_in).
    x_t, w1_t = np.ascontiguousarray(x.T), np.ascontiguousarray(w1.T)

    # Every intermediate lives in a buffer made once.
    h_t = np.empty((H, N), dtype=cfg.dtype)  # h^T, then relu(h)^T in place
    y_pred = np.empty((N, D_out), dtype=cfg.dtype)
    g = np.empty((N, D_out), dtype=cfg.dtype)  # y_pred - y, then lr * dloss/dy_pred
    grad_h_t = np.empty((H, N), dtype=cfg.dtype)  # (lr * dloss/dh)^T
    mask = np.empty((H, N), dtype=cfg.dtype)
    # the ReLU's constants as arrays: NumPy's loop with a scalar operand is several times slower
    zeros, ones = np.zeros((H, N), dtype=cfg.dtype), np.ones((H, N), dtype=cfg.dtype)
    error = g.reshape(-1)  # a flat view of g, made once
    bind = fused_update(cfg.dtype) or subtract_product
    update_w2, update_w1 = bind(w2, h_t, g), bind(w1_t, grad_h_t, x)  # each buffer is fixed from here on

    losses, grads = np.zeros(cfg.steps), None
    for t in range(cfg.steps):
        # Forward pass, in place: h^T = relu(w1^T x^T), y_pred = h w2.
        np.dot(w1_t, x_t, out=h_t)
        np.maximum(h_t, zeros, out=h_t)
        np.dot(h_t.T, w2, out=y_pred)

        # Loss: the sum of squares of the error, as one dot product.
        np.subtract(y_pred, y, out=g)
        losses[t] = np.dot(error, error)

        if t == 0:  # the result reports the plain gradients of step 0
            grads = step_zero_grads(x, h_t.T, g, w2)

        # Backward pass, scaled by the learning rate: g = lr * 2 (y_pred - y), grad_h^T = w2 g^T masked.
        g *= 2.0 * learning_rate
        np.dot(w2, g.T, out=grad_h_t)
        np.minimum(h_t, ones, out=mask)  # h >= 0: ceil(min(h, 1)) is 1 where the ReLU passed its input, else 0
        np.ceil(mask, out=mask)  # (np.sign gives the same in one call, but its loop is slower than both)
        grad_h_t *= mask

        # Update in place: w2 -= h^T g, w1^T -= grad_h^T x.
        update_w2()
        update_w1()

    w1[...] = w1_t.T  # back in the tutorial's layout
    return Result(losses=losses, init=init, params={"w1": w1, "w2": w2}, grads=grads)


def step_zero_grads(x, h, err, w2):
    """dloss/dw1 and dloss/dw2 at the current parameters, from h = relu(x w1) and err = y_pred - y."""
    grad_y_pred = 2.0 * err
    grad_h = grad_y_pred.dot(w2.T) * (h > 0)
    return {"w1": x.T.dot(grad_h), "w2": h.T.dot(grad_y_pred)}


def subtract_product(w, a, b):
    """A step doing w -= a b as a product into a buffer made once, then a subtraction."""
    step = np.empty_like(w)

    def update():
        np.dot(a, b, out=step)
        np.subtract(w, step, out=w)
    return update


@functools.cache
def fused_update(dtype: str):
    """A maker of steps doing w -= a b as one gemm (beta = 1) of the OpenBLAS that NumPy ships, for
    C-ordered arrays; None where NumPy runs another BLAS (its symbols, or its integer size, are not
    known here)."""
    import threadpoolctl

    found = [lib["filepath"] for lib in threadpoolctl.threadpool_info() if lib.get("internal_api") == "openblas"
             and "numpy" in lib["filepath"] and "scipy_openblas64" in os.path.basename(lib["filepath"])]
    if not found:
        return None
    scalar = {"float32": ctypes.c_float, "float64": ctypes.c_double}[dtype]
    gemm = getattr(ctypes.CDLL(found[0]), {"float32": "scipy_cblas_sgemm64_", "float64": "scipy_cblas_dgemm64_"}[dtype])
    gemm.restype = None
    enum, n, ptr = ctypes.c_int, ctypes.c_int64, ctypes.c_void_p
    row_major, no_trans = enum(101), enum(111)  # CBLAS's enums

    def bind(w, a, b):  # w (m x n) -= a b, with a (m x k) and b (k x n), all C-ordered
        (m, k), n_ = a.shape, b.shape[1]
        lda, ldb = max(1, k), max(1, n_)  # BLAS refuses a leading dimension of 0, even for an empty product
        # every argument a ctypes object made once: converting Python numbers costs more than the call
        args = (row_major, no_trans, no_trans, n(m), n(n_), n(k), scalar(-1.0), ptr(a.ctypes.data), n(lda),
                ptr(b.ctypes.data), n(ldb), scalar(1.0), ptr(w.ctypes.data), n(ldb))
        return lambda: gemm(*args)
    return bind
