"""Autograd: PyTorch. Tensors with requires_grad build a graph; loss.backward() computes the gradients."""
import torch

from implementations.contract import Result, check, start
from implementations.torchkit import devices, numpy, tensor

CONFIG = None  # the autograd cell: N, D_in, H, D_out = 64, 1000, 100, 10; lr 1e-6; 500 steps
TAGS = ("autograd", "torch")


def train(x, y, cfg):
    shapes = check(x, y, cfg, devices=devices())

    # Data tensors need no gradients.
    x, y = tensor(x, cfg), tensor(y, cfg)

    # Weights do: requires_grad=True makes autograd track every operation on them.
    p = start(cfg, shapes)
    init = {k: v.copy() for k, v in p.items()}
    w1, w2 = tensor(p["w1"], cfg, requires_grad=True), tensor(p["w2"], cfg, requires_grad=True)
    learning_rate = cfg.lr

    losses, grads = torch.zeros(cfg.steps, dtype=torch.float64, device=cfg.device), None
    for t in range(cfg.steps):
        # Forward pass: the same operations as before; no intermediate values kept by hand.
        y_pred = x.mm(w1).clamp(min=0).mm(w2)

        # Compute the loss: sum of squared errors (loss.item() would give the Python number).
        loss = (y_pred - y).pow(2).sum()
        losses[t] = loss.detach()

        # Autograd computes the backward pass: w1.grad and w2.grad now hold the gradients.
        loss.backward()
        if t == 0:
            grads = {"w1": numpy(w1.grad), "w2": numpy(w2.grad)}

        # Update the weights outside the graph, then zero the gradients, which would accumulate.
        with torch.no_grad():
            w1 -= learning_rate * w1.grad
            w2 -= learning_rate * w2.grad
            w1.grad.zero_()
            w2.grad.zero_()

    params = {"w1": numpy(w1), "w2": numpy(w2)}
    return Result(losses=numpy(losses), init=init, params=params, grads=grads)
