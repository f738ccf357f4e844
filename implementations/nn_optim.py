"""nn: PyTorch optim. The same nn.Sequential model, trained by torch.optim.Adam instead of a manual update."""
import torch
from torch import nn

from implementations.contract import Result, check, start
from implementations.torchkit import devices, linear_params, load_linear, numpy, tensor

CONFIG = {"data": "uniform", "bias": True, "loss": "mean", "optimizer": "adam", "lr": 1e-2}
TAGS = ("nn", "torch")


def train(x, y, cfg):
    shapes = check(x, y, cfg, bias=(True,), loss=("mean",), optimizer=("adam",), devices=devices())
    N, D_in, H, D_out = x.shape[0], x.shape[1], cfg.hidden, y.shape[1]
    x, y = tensor(x, cfg), tensor(y, cfg)

    # The model is a sequence of layers; each nn.Linear holds its own weight and bias.
    model = nn.Sequential(
        nn.utils.skip_init(nn.Linear, D_in, H),
        nn.ReLU(),
        nn.utils.skip_init(nn.Linear, H, D_out),
    ).to(device=cfg.device, dtype=getattr(torch, cfg.dtype))

    # nn.Linear's own initialisation, drawn from cfg.seed (or start from cfg.init).
    p = start(cfg, shapes, scheme="linear")
    init = {k: v.copy() for k, v in p.items()}
    load_linear(model[0], p["w1"], p["b1"])
    load_linear(model[2], p["w2"], p["b2"])
    layers = {"w1": model[0], "w2": model[2]}

    # The nn package has the loss too: mean squared error.
    loss_fn = nn.MSELoss()

    # The optim package holds the update rule: Adam, over every parameter of the model.
    # float(): a NumPy float32 lr would make Adam's step size float32 in a float64 run
    optimizer = torch.optim.Adam(model.parameters(), lr=float(cfg.lr))

    losses, grads = torch.zeros(cfg.steps, dtype=torch.float64, device=cfg.device), None
    for t in range(cfg.steps):
        # Forward pass: call the model like a function.
        y_pred = model(x)

        # Compute the loss.
        loss = loss_fn(y_pred, y)
        losses[t] = loss.detach()

        # Zero the gradients, then let autograd compute them for every parameter.
        optimizer.zero_grad()
        loss.backward()
        if t == 0:
            grads = linear_params(layers, "grad")

        # One call updates every parameter.
        optimizer.step()

    return Result(losses=numpy(losses), init=init, params=linear_params(layers), grads=grads)
