"""Warm-up: PyTorch tensors. The NumPy loop with torch tensors: still a manual backward, but it runs on a GPU."""
import torch

from implementations.contract import Result, check, start
from implementations.torchkit import devices, numpy, tensor

CONFIG = None  # the warm-up cell: N, D_in, H, D_out = 64, 1000, 100, 10; lr 1e-6; 500 steps
TAGS = ("warmup", "torch")


def train(x, y, cfg):
    shapes = check(x, y, cfg, devices=devices())

    # Tensors of cfg.dtype on cfg.device ("cuda" runs this on the GPU).
    x, y = tensor(x, cfg), tensor(y, cfg)

    # Randomly initialise the weights (or start from cfg.init).
    p = start(cfg, shapes)
    init = {k: v.copy() for k, v in p.items()}
    w1, w2 = tensor(p["w1"], cfg), tensor(p["w2"], cfg)
    learning_rate = cfg.lr

    losses, grads = torch.zeros(cfg.steps, dtype=torch.float64, device=cfg.device), None
    for t in range(cfg.steps):
        # Forward pass: compute predicted y.
        h = x.mm(w1)
        h_relu = h.clamp(min=0)
        y_pred = h_relu.mm(w2)

        # Compute the loss: sum of squared errors.
        loss = (y_pred - y).pow(2).sum()
        losses[t] = loss

        # Backprop to compute the gradients of w1 and w2 with respect to the loss.
        grad_y_pred = 2.0 * (y_pred - y)
        grad_w2 = h_relu.t().mm(grad_y_pred)
        grad_h_relu = grad_y_pred.mm(w2.t())
        grad_h = grad_h_relu.clone()
        grad_h[h < 0] = 0
        grad_w1 = x.t().mm(grad_h)
        if t == 0:
            grads = {"w1": numpy(grad_w1), "w2": numpy(grad_w2)}

        # Update the weights by gradient descent.
        w1 -= learning_rate * grad_w1
        w2 -= learning_rate * grad_w2

    params = {"w1": numpy(w1), "w2": numpy(w2)}
    return Result(losses=numpy(losses), init=init, params=params, grads=grads)
