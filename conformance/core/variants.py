"""The variant oracle: the oracle's training loop (float64) with one bug put in, as a hypothesis of
conformance/core/diagnosis.py describes it (a Variant: every default is the oracle's own)."""
from dataclasses import dataclass

import numpy as np

from conformance.core import oracle


@dataclass(frozen=True)
class Variant:
    """How a hypothesis' run differs from the oracle's; every default is the oracle's own."""

    rows: int = None  # only the first rows of x and y
    inputs32: bool = False  # x and y rounded to float32 first
    act: str = "relu"  # sigmoid, tanh, leaky, relu6, identity
    mask: str = None  # the ReLU's backward mask: inverted, none
    pre_activation_input: bool = False  # the next layer's weight gradient from h, not relu(h)
    early_update: bool = False  # w2 updated before the gradient flows back through it
    frozen_bias: bool = False
    detach_mid: bool = False  # no gradient through the shared layer's input
    loss_scale: float = 1.0  # the loss differentiated, scaled
    loss_value_scale: float = 1.0  # the loss reported, scaled
    grad_scale: float = 1.0
    ascent: bool = False
    report_shift: int = 0  # losses recorded this many steps late
    grads_at: int = 0  # the step whose gradients are reported (-1: the last)
    accumulate: bool = False  # gradients never zeroed
    clip: float = None  # total-norm clipping
    lr_fixed: float = None  # this learning rate, whatever cfg.lr says
    lr_scale: float = 1.0
    schedule: tuple = None  # (after k steps, times g)
    never_updated: str = None  # a parameter left as it started
    weight_decay: float = 0.0  # L2 added to the gradient
    momentum: float = None
    nesterov: bool = False
    optimizer: str = None  # the other optimizer than cfg's
    betas: tuple = (0.9, 0.999)
    eps: float = 1e-8
    eps_inside: bool = False
    eps_root: float = 0.0
    bias_correction: bool = True
    amsgrad: bool = False
    decoupled_decay: float = None  # AdamW
    keras: bool = False  # eps on the root of the uncorrected second moment, betas in float32
    betas64: bool = False  # ... with the betas in float64
    unused: str = None  # Adam's convention for an unused parameter (None: the reference's); mixed, decay, stale
    global_count: bool = False  # a skipped parameter bias-corrected with the run's step count
    depth_shift: int = 0  # step t runs at depths[t + shift]
    fixed_depth: int = None
    depth_cap: int = None


def variant(x, y, cfg, start, depths, steps, opt) -> dict:
    """The oracle's training loop (float64) with one bug put in (opt: a Variant, or its fields as a
    dict), for `steps` steps."""
    opt = Variant(**opt) if isinstance(opt, dict) else opt
    x, y = np.asarray(x, dtype=np.float64)[:opt.rows], np.asarray(y, dtype=np.float64)[:opt.rows]
    if opt.inputs32:
        x, y = x.astype(np.float32).astype(np.float64), y.astype(np.float32).astype(np.float64)
    p = {k: np.array(v, dtype=np.float64) for k, v in start.items()}
    optimizer = opt.optimizer or cfg.optimizer
    b1, b2 = opt.betas
    eps = opt.eps
    m = {k: np.zeros_like(v) for k, v in p.items()}
    v = {k: np.zeros_like(a) for k, a in p.items()}
    vmax = {k: np.zeros_like(a) for k, a in p.items()}
    velocity = {k: np.zeros_like(a) for k, a in p.items()}
    total = {k: np.zeros_like(a) for k, a in p.items()}
    count = {k: 0 for k in p}  # Adam steps each parameter has taken
    unused = opt.unused or "step"  # the contract's "step" or "skip", or "mixed": skipped until first used
    seen = set()  # the parameters used so far
    shift = opt.report_shift
    run = steps + max(shift, 0)
    losses, grads_seen = [], []
    for t in range(run):
        at = t + opt.depth_shift  # depths[-1] at step 0 under a shift of -1, as Python indexes
        depth = opt.fixed_depth if opt.fixed_depth is not None else \
            int(depths[at]) if depths is not None and at < len(depths) else 0
        depth = depth if opt.depth_cap is None else min(depth, opt.depth_cap)
        loss, g = _loss_and_grads(p, x, y, cfg, depth, opt)
        losses.append(loss)
        if opt.accumulate:
            total = {k: total[k] + g[k] for k in g}
            g = total
        grads_seen.append({k: a.copy() for k, a in g.items()})
        if opt.clip is not None:  # torch.nn.utils.clip_grad_norm_: max_norm / (norm + 1e-6), at most 1
            norm = np.sqrt(sum(np.sum(a * a) for a in g.values()))
            coef = min(opt.clip / (norm + 1e-6), 1.0)
            g = {k: a * coef for k, a in g.items()}
        live = oracle.used(cfg.model, depth)
        seen |= live
        lr = (cfg.lr if opt.lr_fixed is None else opt.lr_fixed) * opt.lr_scale
        if opt.schedule is not None and t >= opt.schedule[0]:
            lr *= opt.schedule[1]
        for k in p:
            if k == opt.never_updated:
                continue
            gk = g[k] + opt.weight_decay * p[k]
            if optimizer == "sgd":
                if opt.momentum is not None:
                    velocity[k] = opt.momentum * velocity[k] + gk if t else gk.copy()
                    gk = gk + opt.momentum * velocity[k] if opt.nesterov else velocity[k]
                p[k] = p[k] - lr * gk
                continue
            if k not in live and (unused == "skip" or (unused == "mixed" and k not in seen)):
                continue
            count[k] += 1
            n = t + 1 if opt.global_count else count[k]
            if opt.decoupled_decay is not None:
                p[k] = p[k] * (1 - lr * opt.decoupled_decay)
            if k in live or unused != "stale":
                m[k] = b1 * m[k] + (1 - b1) * gk
                v[k] = b2 * v[k] + (1 - b2) * gk * gk
            if k not in live and unused == "decay":
                continue
            m_hat, v_hat = m[k], v[k]
            if opt.keras:  # lr * sqrt(1 - b2^n) / (1 - b1^n) * m / (sqrt(v) + eps), Keras' betas float32
                c1, c2 = (1 - (b if opt.betas64 else float(np.float32(b))) ** n for b in (b1, b2))
                p[k] = p[k] - lr * np.sqrt(c2) / c1 * m[k] / (np.sqrt(v[k]) + eps)
                continue
            if opt.bias_correction:
                m_hat, v_hat = m[k] / (1 - b1 ** n), v[k] / (1 - b2 ** n)
            if opt.amsgrad:  # torch keeps the running max of the raw second moment
                vmax[k] = np.maximum(vmax[k], v[k])
                v_hat = vmax[k] / (1 - b2 ** n) if opt.bias_correction else vmax[k]
            denom = np.sqrt(v_hat + eps) if opt.eps_inside else np.sqrt(v_hat + opt.eps_root) + eps
            p[k] = p[k] - lr * m_hat / denom
    losses = np.asarray(losses)
    if shift > 0:
        losses = losses[shift:]
    elif shift < 0:
        losses = np.concatenate([losses[-shift:], np.full(-shift, np.nan)])
    at = opt.grads_at
    grads = grads_seen[at if at >= 0 else steps - 1] if steps else {}
    return {"losses": losses[:steps], "grads": grads, "params": p}


def _loss_and_grads(p, x, y, cfg, depth, opt):
    act = opt.act
    names = [("w1", "b1"), ("w2", "b2")] if cfg.model == "two_layer" else \
        [("w_in", "b_in")] + [("w_mid", "b_mid")] * depth + [("w_out", "b_out")]
    inputs, pres, outs = [], [], []
    h = x
    for i, (w, b) in enumerate(names):
        inputs.append(h)
        z = h @ p[w] + (p[b] if b in p else 0)
        if i < len(names) - 1:
            pres.append(z)
            z = {"relu": np.maximum(z, 0), "sigmoid": 1 / (1 + np.exp(-np.clip(z, -500, 500))),
                 "tanh": np.tanh(z), "identity": z, "leaky": np.where(z > 0, z, 0.01 * z),
                 "relu6": np.clip(z, 0, 6)}[act]
        outs.append(z)
        h = z
    diff = h - y
    scale = opt.loss_scale * (1.0 if cfg.loss == "sum" else 1.0 / diff.size)
    loss = float(np.sum(diff * diff) * scale) * opt.loss_value_scale
    g = 2 * scale * diff * opt.grad_scale * (-1 if opt.ascent else 1)
    grads = {k: np.zeros_like(a) for k, a in p.items()}
    for i in reversed(range(len(names))):
        w, b = names[i]
        layer_input = inputs[i]
        if opt.pre_activation_input and i > 0:
            layer_input = pres[i - 1]
        grads[w] += layer_input.T @ g
        if b in p and not opt.frozen_bias:
            grads[b] += g.sum(axis=0)
        if i == 0:
            break
        g = g @ (p[w] - cfg.lr * grads[w] if opt.early_update else p[w]).T
        z = pres[i - 1]
        if act == "relu":
            mask = {"inverted": z <= 0, "none": np.ones_like(z, dtype=bool)}.get(opt.mask, z > 0)
            g = g * mask
        elif act == "sigmoid":
            s = outs[i - 1]
            g = g * s * (1 - s)
        elif act == "tanh":
            g = g * (1 - outs[i - 1] ** 2)
        elif act == "leaky":
            g = g * np.where(z > 0, 1.0, 0.01)
        elif act == "relu6":
            g = g * ((z > 0) & (z < 6))
        if opt.detach_mid and names[i][0] == "w_mid":
            g = g * 0.0
    return loss, grads
