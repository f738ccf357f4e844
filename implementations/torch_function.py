"""Autograd: a new autograd function. ReLU as a torch.autograd.Function with its own forward and backward."""
import torch

from implementations.contract import Result, check, start
from implementations.torchkit import devices, numpy, tensor

CONFIG = None  # the custom-function cell: N, D_in, H, D_out = 64, 1000, 100, 10; lr 1e-6; 500 steps
TAGS = ("autograd", "torch")


class MyReLU(torch.autograd.Function):
    """ReLU with a hand-written backward pass."""

    @staticmethod
    def forward(ctx, input):
        # Keep the input: backward needs to know where it was negative.
        ctx.save_for_backward(input)
        return input.clamp(min=0)

    @staticmethod
    def backward(ctx, grad_output):
        # The gradient passes where the input was positive and stops where it was negative.
        input, = ctx.saved_tensors
        grad_input = grad_output.clone()
        grad_input[input < 0] = 0
        return grad_input


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
        # Forward pass: our own function is applied like any other operation.
        relu = MyReLU.apply
        y_pred = relu(x.mm(w1)).mm(w2)

        # Compute the loss: sum of squared errors.
        loss = (y_pred - y).pow(2).sum()
        losses[t] = loss.detach()

        # Autograd calls MyReLU.backward on the way back.
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
