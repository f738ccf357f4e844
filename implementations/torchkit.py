"""What the PyTorch variants share and is not their lesson: devices, copies in and out."""
import numpy as np
import torch


def devices() -> tuple:
    """The cfg.device strings torch can run on here."""
    n = torch.cuda.device_count() if torch.cuda.is_available() else 0
    return ("cpu",) + (("cuda",) if n else ()) + tuple(f"cuda:{i}" for i in range(n))


def tensor(a: np.ndarray, cfg, requires_grad: bool = False) -> torch.Tensor:
    """A fresh tensor of cfg.dtype on cfg.device holding a copy of ``a`` (whatever its memory
    layout: torch takes no negative strides, so a C-ordered copy goes in)."""
    t = torch.tensor(np.ascontiguousarray(a), dtype=getattr(torch, cfg.dtype), device=cfg.device)
    return t.requires_grad_(requires_grad)


def numpy(t) -> np.ndarray:
    """A NumPy copy of a tensor, wherever it lives."""
    return t.detach().cpu().numpy().copy()


def load_linear(layer: torch.nn.Linear, w: np.ndarray, b=None) -> None:
    """Copy canonical (in, out) parameters into an nn.Linear, which keeps weight as (out, in)."""
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(w.T))
        if b is not None:
            layer.bias.copy_(torch.from_numpy(b))


def linear_params(names: dict, attr: str = "data") -> dict:
    """Canonical arrays from {weight name: nn.Linear} ("w1" -> "b1" for biases).

    ``attr="grad"`` reads the gradients instead, zeros for a layer the step did not use.
    """
    out = {}
    for w, layer in names.items():
        for name, p, flip in ((w, layer.weight, True), ("b" + w[1:], layer.bias, False)):
            if p is None:
                continue
            v = p.data if attr == "data" else p.grad
            a = np.zeros(tuple(p.shape), str(p.dtype).removeprefix("torch.")) if v is None else numpy(v)
            out[name] = a.T.copy() if flip else a
    return out
