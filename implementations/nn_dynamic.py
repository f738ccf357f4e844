"""nn: control flow and weight sharing. DynamicNet reuses one middle layer a random 0..3 times per pass."""
import torch
from torch import nn

from implementations.contract import Result, check, draw_depths, start
from implementations.torchkit import devices, linear_params, load_linear, numpy, tensor

CONFIG = {"data": "uniform", "model": "dynamic", "bias": True, "loss": "mean", "lr": 1e-2}
TAGS = ("nn", "torch")


class DynamicNet(nn.Module):
    """Input layer, the middle layer applied `depth` times (one set of weights), output layer."""

    def __init__(self, D_in, H, D_out):
        super().__init__()
        self.input_linear = nn.utils.skip_init(nn.Linear, D_in, H)
        self.middle_linear = nn.utils.skip_init(nn.Linear, H, H)
        self.output_linear = nn.utils.skip_init(nn.Linear, H, D_out)

    def forward(self, x, depth):
        # Plain Python control flow: the graph is built anew on every pass, so a loop
        # of any length works, and reusing a layer shares its weights.
        h_relu = self.input_linear(x).clamp(min=0)
        for _ in range(depth):
            h_relu = self.middle_linear(h_relu).clamp(min=0)
        y_pred = self.output_linear(h_relu)
        return y_pred


def train(x, y, cfg):
    shapes = check(x, y, cfg, model=("dynamic",), bias=(True,), loss=("mean",), devices=devices())
    N, D_in, H, D_out = x.shape[0], x.shape[1], cfg.hidden, y.shape[1]
    x, y = tensor(x, cfg), tensor(y, cfg)

    # Build the model from our class.
    model = DynamicNet(D_in, H, D_out).to(device=cfg.device, dtype=getattr(torch, cfg.dtype))

    # nn.Linear's own initialisation, drawn from cfg.seed (or start from cfg.init).
    p = start(cfg, shapes, scheme="linear")
    init = {k: v.copy() for k, v in p.items()}
    load_linear(model.input_linear, p["w_in"], p["b_in"])
    load_linear(model.middle_linear, p["w_mid"], p["b_mid"])
    load_linear(model.output_linear, p["w_out"], p["b_out"])
    layers = {"w_in": model.input_linear, "w_mid": model.middle_linear, "w_out": model.output_linear}

    # Each step's depth, like random.randint(0, 3) but seeded by cfg.seed (or cfg.depths).
    depths = draw_depths(cfg)

    # Mean squared error, and plain gradient descent from the optim package.
    criterion = nn.MSELoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=float(cfg.lr))

    losses, grads = torch.zeros(cfg.steps, dtype=torch.float64, device=cfg.device), None
    for t in range(cfg.steps):
        # Forward pass: this step's depth decides how often the middle layer runs.
        y_pred = model(x, int(depths[t]))

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

    return Result(losses=numpy(losses), init=init, params=linear_params(layers), grads=grads,
                  depths=depths)
