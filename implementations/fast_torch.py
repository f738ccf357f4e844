"""Fast: PyTorch eager, as close to the matmuls alone as it gets.

The warm-up loop with every buffer allocated once and every operation in place (the `out=` and
trailing-underscore forms), the learning rate (and the loss's factor 2) applied to the small
N x D_out error, and each weight update fused into its gradient's product: w.addmm_(a, b,
alpha=-1) is one BLAS gemm computing w := w - a b, so the big gradients never exist as tensors
(except at step 0, which the result reports).
"""
import torch

from implementations.contract import Result, check, start
from implementations.torchkit import devices, numpy, tensor

CONFIG = None  # the warm-up cell: N, D_in, H, D_out = 64, 1000, 100, 10; lr 1e-6; 500 steps
TAGS = ("fast", "torch")


def train(x, y, cfg):
    shapes = check(x, y, cfg, devices=devices())

    x, y = tensor(x, cfg), tensor(y, cfg)
    N, H, D_out = x.shape[0], cfg.hidden, y.shape[1]
    p = start(cfg, shapes)
    init = {k: v.copy() for k, v in p.items()}
    w1, w2 = tensor(p["w1"], cfg), tensor(p["w2"], cfg)
    learning_rate = cfg.lr

    # Every intermediate lives in a buffer made once.
    h = x.new_empty(N, H)  # h, then relu(h) in place
    y_pred = x.new_empty(N, D_out)
    g = x.new_empty(N, D_out)  # y_pred - y, then lr * dloss/dy_pred
    grad_h = x.new_empty(N, H)  # lr * dloss/dh
    losses, grads = torch.zeros(cfg.steps, dtype=torch.float64, device=cfg.device), None

    with torch.no_grad():
        for t in range(cfg.steps):
            # Forward pass, in place: h = relu(x w1), y_pred = h w2.
            torch.mm(x, w1, out=h)
            h.clamp_(min=0)
            torch.mm(h, w2, out=y_pred)

            # Loss: the sum of squares of the error.
            torch.sub(y_pred, y, out=g)
            losses[t] = torch.dot(g.view(-1), g.view(-1))

            if t == 0:  # the result reports the plain gradients of step 0
                grad_y_pred = 2.0 * g
                grad_h0 = grad_y_pred.mm(w2.t()) * (h > 0)
                grads = {"w1": numpy(x.t().mm(grad_h0)), "w2": numpy(h.t().mm(grad_y_pred))}

            # Backward pass, scaled by the learning rate: g = lr * 2 (y_pred - y), grad_h = g w2^T masked.
            g.mul_(2.0 * learning_rate)
            torch.mm(g, w2.t(), out=grad_h)
            grad_h.mul_(h > 0)

            # The updates fused into the products: w2 -= h^T g, w1 -= x^T grad_h.
            w2.addmm_(h.t(), g, alpha=-1)
            w1.addmm_(x.t(), grad_h, alpha=-1)

    return Result(losses=numpy(losses), init=init, params={"w1": numpy(w1), "w2": numpy(w2)}, grads=grads)
