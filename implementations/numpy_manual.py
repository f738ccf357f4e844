"""Warm-up: NumPy. A two-layer ReLU net fitted by hand-written forward and backward passes."""
import numpy as np

from implementations.contract import Result, check, start

CONFIG = None  # the warm-up cell: N, D_in, H, D_out = 64, 1000, 100, 10; lr 1e-6; 500 steps
TAGS = ("warmup", "numpy")


def train(x, y, cfg):
    shapes = check(x, y, cfg)

    # Our own copies of the data, in the requested precision.
    x, y = x.astype(cfg.dtype), y.astype(cfg.dtype)

    # Randomly initialise the weights (or start from cfg.init).
    p = start(cfg, shapes)
    init = {k: v.copy() for k, v in p.items()}
    w1, w2 = p["w1"], p["w2"]
    learning_rate = cfg.lr

    losses, grads = np.zeros(cfg.steps), None
    for t in range(cfg.steps):
        # Forward pass: compute predicted y.
        h = x.dot(w1)
        h_relu = np.maximum(h, 0)
        y_pred = h_relu.dot(w2)

        # Compute the loss: sum of squared errors.
        loss = np.square(y_pred - y).sum()
        losses[t] = loss

        # Backprop to compute the gradients of w1 and w2 with respect to the loss.
        grad_y_pred = 2.0 * (y_pred - y)
        grad_w2 = h_relu.T.dot(grad_y_pred)
        grad_h_relu = grad_y_pred.dot(w2.T)
        grad_h = grad_h_relu.copy()
        grad_h[h < 0] = 0
        grad_w1 = x.T.dot(grad_h)
        if t == 0:
            grads = {"w1": grad_w1.copy(), "w2": grad_w2.copy()}

        # Update the weights by gradient descent.
        w1 -= learning_rate * grad_w1
        w2 -= learning_rate * grad_w2

    return Result(losses=losses, init=init, params={"w1": w1, "w2": w2}, grads=grads)
