"""Correct, in the tutorial's own nn style: nn.Linear layers built the usual way (their default
initialisation draws from torch's global generator, which the suite tolerates as a note: the
result does not depend on it, because the canonical start is copied in), nn.MSELoss, and
torch.optim.SGD or torch.optim.Adam. Every structure: a two-layer Sequential or the tutorial's
DynamicNet. Under Adam, a layer the step did not use has no .grad and torch.optim skips it:
the contract's "skip" convention.
"""
import numpy as np
import torch
from torch import nn

from implementations.contract import Result, check, draw_depths, start

CONFIG = {"data": "uniform", "bias": True, "loss": "mean", "lr": 1e-2}  # the nn.Sequential cell
TAGS = ("nn", "torch")


class DynamicNet(nn.Module):
    def __init__(self, D_in, H, D_out, bias):
        super().__init__()
        self.input_linear = nn.Linear(D_in, H, bias=bias)
        self.middle_linear = nn.Linear(H, H, bias=bias)
        self.output_linear = nn.Linear(H, D_out, bias=bias)

    def forward(self, x, depth):
        h_relu = self.input_linear(x).clamp(min=0)
        for _ in range(depth):
            h_relu = self.middle_linear(h_relu).clamp(min=0)
        return self.output_linear(h_relu)


def train(x, y, cfg):
    shapes = check(x, y, cfg, model=("two_layer", "dynamic"), bias=(False, True), loss=("sum", "mean"),
                   optimizer=("sgd", "adam"))
    dtype = getattr(torch, cfg.dtype)
    x = torch.tensor(np.ascontiguousarray(x), dtype=dtype)
    y = torch.tensor(np.ascontiguousarray(y), dtype=dtype)
    D_in, H, D_out = x.shape[1], cfg.hidden, y.shape[1]

    if cfg.model == "two_layer":
        model = nn.Sequential(nn.Linear(D_in, H, bias=cfg.bias), nn.ReLU(), nn.Linear(H, D_out, bias=cfg.bias))
        layers = {"1": model[0], "2": model[2]}
    else:
        model = DynamicNet(D_in, H, D_out, cfg.bias)
        layers = {"_in": model.input_linear, "_mid": model.middle_linear, "_out": model.output_linear}
    model = model.to(dtype)

    p = start(cfg, shapes, "linear")
    with torch.no_grad():
        for suffix, layer in layers.items():
            layer.weight.copy_(torch.from_numpy(p["w" + suffix].T.copy()))
            if cfg.bias:
                layer.bias.copy_(torch.from_numpy(p["b" + suffix]))

    loss_fn = nn.MSELoss(reduction="sum" if cfg.loss == "sum" else "mean")
    optimizer = (torch.optim.SGD if cfg.optimizer == "sgd" else torch.optim.Adam)(model.parameters(), lr=float(cfg.lr))
    depths = draw_depths(cfg) if cfg.model == "dynamic" else None

    def canonical(attr):
        out = {}
        for suffix, layer in layers.items():
            for name, param, flip in (("w" + suffix, layer.weight, True), ("b" + suffix, layer.bias, False)):
                if param is None:
                    continue
                t = param.detach() if attr == "data" else param.grad
                a = np.zeros(tuple(param.shape), cfg.dtype) if t is None else t.detach().numpy().copy()
                out[name] = a.T.copy() if flip else a
        return out

    losses, grads = [], None
    for t in range(cfg.steps):
        y_pred = model(x) if depths is None else model(x, int(depths[t]))
        loss = loss_fn(y_pred, y)
        losses.append(loss.item())
        optimizer.zero_grad()
        loss.backward()
        if t == 0:
            grads = canonical("grad")
        optimizer.step()

    return Result(losses=np.array(losses), init={k: v.copy() for k, v in p.items()}, params=canonical("data"),
                  grads=grads, depths=depths)
