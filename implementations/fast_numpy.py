"""Fast: NumPy, as close to the matmuls alone as it gets.

The warm-up loop with nothing spent outside BLAS that can be avoided: every buffer is allocated
once, every product writes into its buffer (`out=`), every elementwise step runs in place, and
the learning rate (and the loss's factor 2) scales the small N x D_out error instead of the big
gradients, so an update is one pass over each weight.

(Tried and dropped: fusing each update into its product with SciPy's BLAS gemm, w := w - a^T b.
It saves the update pass, about 10 us of a 300 us step, but SciPy ships its own OpenBLAS, which
ran these shapes slower than NumPy's, and two BLAS thread pools fight over the same cores.)
"""
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

    # Every intermediate lives in a buffer made once.
    h = np.empty((N, H), dtype=cfg.dtype)  # h, then relu(h) in place
    y_pred = np.empty((N, D_out), dtype=cfg.dtype)
    g = np.empty((N, D_out), dtype=cfg.dtype)  # y_pred - y, then lr * dloss/dy_pred
    grad_h = np.empty((N, H), dtype=cfg.dtype)  # lr * dloss/dh
    mask = np.empty((N, H), dtype=cfg.dtype)
    step_w1, step_w2 = np.empty_like(w1), np.empty_like(w2)  # lr * the gradients

    losses, grads = np.zeros(cfg.steps), None
    for t in range(cfg.steps):
        # Forward pass, in place: h = relu(x w1), y_pred = h w2.
        np.dot(x, w1, out=h)
        np.maximum(h, 0, out=h)
        np.dot(h, w2, out=y_pred)

        # Loss: the sum of squares of the error, as one dot product.
        np.subtract(y_pred, y, out=g)
        losses[t] = np.dot(g.ravel(), g.ravel())

        if t == 0:  # the result reports the plain gradients of step 0
            grads = step_zero_grads(x, h, g, w2)

        # Backward pass, scaled by the learning rate: g = lr * 2 (y_pred - y), grad_h = g w2^T masked.
        g *= 2.0 * learning_rate
        np.dot(g, w2.T, out=grad_h)
        np.sign(h, out=mask)  # 1 where the ReLU passed its input, else 0
        grad_h *= mask

        # Update in place: w2 -= h^T g, w1 -= x^T grad_h.
        np.dot(h.T, g, out=step_w2)
        np.dot(x.T, grad_h, out=step_w1)
        w2 -= step_w2
        w1 -= step_w1

    return Result(losses=losses, init=init, params={"w1": w1, "w2": w2}, grads=grads)


def step_zero_grads(x, h, err, w2):
    """dloss/dw1 and dloss/dw2 at the current parameters, from h = relu(x w1) and err = y_pred - y."""
    grad_y_pred = 2.0 * err
    grad_h = grad_y_pred.dot(w2.T) * (h > 0)
    return {"w1": x.T.dot(grad_h), "w2": h.T.dot(grad_y_pred)}
