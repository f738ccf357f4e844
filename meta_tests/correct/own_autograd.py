"""Correct, in another style: a learner's own little autograd engine over NumPy arrays (micrograd
at the tensor level), every structure of the contract.

Each operation records its inputs and a closure that passes the gradient back; backward() walks
the graph in reverse topological order. A parameter no operation used this step (the shared layer
at depth 0) ends the step with grad None, and Adam skips it, as torch.optim does, keeping one step
count per parameter: the contract's "skip" convention.
"""
import numpy as np

from implementations.contract import Result, check, draw_depths, start

CONFIG = {"model": "dynamic", "data": "uniform", "bias": True, "loss": "mean", "lr": 1e-2}  # the DynamicNet cell
TAGS = ("numpy",)


class T:
    def __init__(self, data, parents=(), back=None):
        self.data, self.parents, self.back, self.grad = data, parents, back, None

    def _acc(self, g):
        self.grad = g if self.grad is None else self.grad + g

    def __matmul__(self, o):
        out = T(self.data @ o.data, (self, o))
        out.back = lambda g: (self._acc(g @ o.data.T), o._acc(self.data.T @ g))
        return out

    def __add__(self, o):  # o: a bias row, broadcast over the batch
        out = T(self.data + o.data, (self, o))
        out.back = lambda g: (self._acc(g), o._acc(g.sum(axis=0)))
        return out

    def relu(self):
        out = T(np.maximum(self.data, 0), (self,))
        out.back = lambda g: self._acc(g * (self.data > 0))
        return out

    def sq_error(self, y, scale):
        d = self.data - y
        out = T((d * d).sum() * scale, (self,))
        out.back = lambda g: self._acc(g * 2 * scale * d)
        return out

    def backward(self):
        order, seen = [], set()

        def visit(n):
            if id(n) not in seen:
                seen.add(id(n))
                for p in n.parents:
                    visit(p)
                order.append(n)

        visit(self)
        self.grad = np.ones_like(self.data)
        for n in reversed(order):
            if n.back is not None:
                n.back(n.grad)


def forward(P, x, cfg, depth):
    if cfg.model == "two_layer":
        layers = [("w1", "b1"), ("w2", "b2")]
    else:
        layers = [("w_in", "b_in")] + [("w_mid", "b_mid")] * depth + [("w_out", "b_out")]
    h = T(x)
    for i, (w, b) in enumerate(layers):
        h = h @ P[w]
        if cfg.bias:
            h = h + P[b]
        if i < len(layers) - 1:
            h = h.relu()
    return h


def train(x, y, cfg):
    shapes = check(x, y, cfg, model=("two_layer", "dynamic"), bias=(False, True), loss=("sum", "mean"),
                   optimizer=("sgd", "adam"))
    x, y = np.array(x, dtype=cfg.dtype), np.array(y, dtype=cfg.dtype)
    p = start(cfg, shapes, "linear")
    init = {k: v.copy() for k, v in p.items()}
    depths = draw_depths(cfg) if cfg.model == "dynamic" else None
    scale = np.asarray(1.0 if cfg.loss == "sum" else 1.0 / y.size, dtype=cfg.dtype)
    m = {k: np.zeros_like(v) for k, v in p.items()}
    v = {k: np.zeros_like(a) for k, a in p.items()}
    n = {k: 0 for k in p}
    lr = np.asarray(cfg.lr, dtype=cfg.dtype)  # in the run's precision, whatever form cfg.lr comes in
    losses, first = np.zeros(cfg.steps, dtype=cfg.dtype), None
    for t in range(cfg.steps):
        P = {k: T(a) for k, a in p.items()}
        loss = forward(P, x, cfg, int(depths[t]) if depths is not None else 0).sq_error(y, scale)
        loss.backward()
        losses[t] = loss.data
        if t == 0:
            first = {k: (P[k].grad if P[k].grad is not None else np.zeros_like(p[k])).copy() for k in p}
        for k, node in P.items():
            g = node.grad
            if g is None:
                continue  # not used this step
            if cfg.optimizer == "sgd":
                p[k] = p[k] - lr * g
            else:
                n[k] += 1
                m[k] = 0.9 * m[k] + 0.1 * g
                v[k] = 0.999 * v[k] + 0.001 * g * g
                mh, vh = m[k] / (1 - 0.9 ** n[k]), v[k] / (1 - 0.999 ** n[k])
                p[k] = p[k] - lr * mh / (np.sqrt(vh) + 1e-8)
    return Result(losses=losses, init=init, params=p, grads=first, depths=depths)
