"""Fast: PyTorch 2, torch.compile. The warm-up step (forward, hand-written backward, update) as
one function that TorchDynamo captures and TorchInductor compiles to a fused kernel around the
matrix products; the Python loop only calls it.

Compiling costs seconds on the first call for a dtype. The program is shape-generic
(dynamic=True), except that TorchDynamo specialises sizes of 1, so each dtype and pattern of
unit sizes compiles once; the default limit of 8 programs per function is raised for the
duration of a call (and put back), so that unusual sizes compile rather than fail.
"""
import torch

from implementations.contract import Result, check, start
from implementations.torchkit import devices, numpy, tensor

CONFIG = None  # the warm-up cell: N, D_in, H, D_out = 64, 1000, 100, 10; lr 1e-6; 500 steps
TAGS = ("fast", "torch")


def step(x, y, w1, w2, learning_rate):
    # Forward pass.
    h = x.mm(w1)
    h_relu = h.clamp(min=0)
    y_pred = h_relu.mm(w2)
    loss = (y_pred - y).pow(2).sum()

    # Backward pass by hand, as in the warm-up.
    grad_y_pred = 2.0 * (y_pred - y)
    grad_w2 = h_relu.t().mm(grad_y_pred)
    grad_h = grad_y_pred.mm(w2.t()) * (h > 0)
    grad_w1 = x.t().mm(grad_h)

    # The update, returned as new tensors: the compiled function has no side effects.
    return loss, w1 - learning_rate * grad_w1, w2 - learning_rate * grad_w2, grad_w1, grad_w2


compiled_step = torch.compile(step, fullgraph=True, dynamic=True)  # one program for every shape
PROGRAMS = 64  # 2 dtypes x 16 patterns of unit sizes (N, D_in, H, D_out), with room to spare


def train(x, y, cfg):
    shapes = check(x, y, cfg, devices=devices())

    x, y = tensor(x, cfg), tensor(y, cfg)
    p = start(cfg, shapes)
    init = {k: v.copy() for k, v in p.items()}
    w1, w2 = tensor(p["w1"], cfg), tensor(p["w2"], cfg)
    learning_rate = torch.tensor(cfg.lr, dtype=x.dtype, device=cfg.device)  # a tensor: no recompile per lr

    losses, grads = torch.zeros(cfg.steps, dtype=torch.float64, device=cfg.device), None
    with torch.no_grad(), torch._dynamo.config.patch(recompile_limit=PROGRAMS):
        for t in range(cfg.steps):
            loss, w1, w2, grad_w1, grad_w2 = compiled_step(x, y, w1, w2, learning_rate)
            losses[t] = loss
            if t == 0:
                grads = {"w1": numpy(grad_w1), "w2": numpy(grad_w2)}

    return Result(losses=numpy(losses), init=init, params={"w1": numpy(w1), "w2": numpy(w2)}, grads=grads)
