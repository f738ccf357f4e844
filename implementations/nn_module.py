"""nn: a custom nn.Module. The two-layer net as a class of our own, trained by torch.optim.SGD."""
import torch
from torch import nn

from implementations.contract import Result, check, start
from implementations.torchkit import devices, linear_params, load_linear, numpy, tensor

CONFIG = {"data": "uniform", "bias": True, "loss": "mean", "lr": 1e-2}
TAGS = ("nn", "torch")


class TwoLayer(nn.Module):
    """A module of our own: its layers are attributes, its forward pass a method."""

    def __init__(self, D_in, H, D_out):
        super().__init__()
        self.linear1 = nn.utils.skip_init(nn.Linear, D_in, H)
        self.linear2 = nn.utils.skip_init(nn.Linear, H, D_out)

    def forward(self, x):
        h_relu = self.linear1(x).clamp(min=0)
        y_pred = self.linear2(h_relu)
        return y_pred


def train(x, y, cfg):
    shapes = check(x, y, cfg, bias=(True,), loss=("mean",), devices=devices())
    N, D_in, H, D_out = x.shape[0], x.shape[1], cfg.hidden, y.shape[1]
    x, y = tensor(x, cfg), tensor(y, cfg)

    # Build the model from our class.
    model = TwoLayer(D_in, H, D_out).to(device=cfg.device, dtype=getattr(torch, cfg.dtype))

    # nn.Linear's own initialisation, drawn from cfg.seed (or start from cfg.init).
    p = start(cfg, shapes, scheme="linear")
    init = {k: v.copy() for k, v in p.items()}
    load_linear(model.linear1, p["w1"], p["b1"])
    load_linear(model.linear2, p["w2"], p["b2"])
    layers = {"w1": model.linear1, "w2": model.linear2}

    # Mean squared error, and plain gradient descent from the optim package.
    criterion = nn.MSELoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=float(cfg.lr))

    losses, grads = torch.zeros(cfg.steps, dtype=torch.float64, device=cfg.device), None
    for t in range(cfg.steps):
        # Forward pass: call the model like a function.
        y_pred = model(x)

        # Compute the loss.
        loss = criterion(y_pred, y)
        losses[t] = loss.detach()

        # Zero the gradients, then let autograd compute them for every parameter.
        optimizer.zero_grad()
        loss.backward()
        if t == 0:
            grads = linear_params(layers, "grad")

        # One call updates every parameter.
        optimizer.step()

    return Result(losses=numpy(losses), init=init, params=linear_params(layers), grads=grads)
