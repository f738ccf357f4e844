"""The oracle: a plain NumPy implementation of every structural setting of the contract.

Two-layer and dynamic models, with and without bias, sum and mean loss, SGD and Adam
(torch.optim.Adam's update), in whatever precision it is given. The suite runs it in float64 as
the trusted reference, and in the requested precision for the shadow runs that size each
tolerance (conformance/core/envelope.py); meta_tests/test_oracle.py holds it against finite differences
and torch.optim. It honours the whole contract itself, so `pytest --impl conformance/core/oracle.py`
verifies it like any plug-in.

A parameter a step does not use (the shared layer at depth 0) has a zero gradient. Under Adam
the contract accepts two conventions, and train(..., unused=) computes either: "step" (it takes
an Adam step with that zero gradient, its moments decay, as in optax; the default) or "skip"
(it is left alone, its moments and its own step count too, as torch.optim does for a
parameter whose .grad is None).
"""
import numpy as np

from implementations.contract import Result, check, draw_depths, start

TAGS = ("reference", "numpy")
BETAS, EPS = (0.9, 0.999), 1e-8


def layers(model: str, depth: int = 0) -> list:
    """The (weight, bias) names applied in order; ReLU follows every layer but the last."""
    if model == "two_layer":
        return [("w1", "b1"), ("w2", "b2")]
    return [("w_in", "b_in")] + [("w_mid", "b_mid")] * depth + [("w_out", "b_out")]


def exact(a):
    return a


def forward(p: dict, x: np.ndarray, model: str, depth: int = 0, jitter=exact):
    """Return y_pred, the inputs of every layer, and the pre-activations of every ReLU."""
    h, inputs, pre = x, [], []
    names = layers(model, depth)
    for i, (w, b) in enumerate(names):
        inputs.append(h)
        z = jitter(h @ p[w] + p[b] if b in p else h @ p[w])
        if i < len(names) - 1:
            pre.append(z)
            z = np.maximum(z, 0)
        h = z
    return h, inputs, pre


def loss_of(y_pred: np.ndarray, y: np.ndarray, kind: str, jitter=exact):
    """Loss and its gradient with respect to y_pred."""
    diff = jitter(y_pred - y)
    if kind == "sum":
        return jitter(np.square(diff).sum()), jitter(2.0 * diff)
    return jitter(np.square(diff).mean()), jitter(2.0 * diff / diff.size)


def loss_and_grads(p: dict, x, y, model="two_layer", loss="sum", depth=0, jitter=exact, record=None, flip=None):
    """Loss, canonical gradients (zeros for unused parameters) and ReLU pre-activations.

    jitter(array) is applied to the result of every operation: the identity for the oracle; a
    rounding perturbation for the shadow runs that size the suite's tolerances. record (a list),
    if given, receives how much the loss moves per unit of relative rounding in y_pred:
    sum 2 |y_pred - y| (|y_pred| + |y|), over N*D_out for the mean. flip ({ReLU index: boolean
    array}) takes the other subgradient where a ReLU input sits at a kink (within rounding of 0)."""
    y_pred, inputs, pre = forward(p, x, model, depth, jitter)
    value, g = loss_of(y_pred, y, loss, jitter)
    if record is not None:
        s = float(np.sum(2 * np.abs(y_pred - y) * (np.abs(y_pred) + np.abs(y))))
        record.append(s if loss == "sum" else s / y.size)
    grads = {k: np.zeros_like(v) for k, v in p.items()}
    names = layers(model, depth)
    for i in reversed(range(len(names))):
        w, b = names[i]
        if i < len(names) - 1:
            g = g * ((pre[i] > 0) ^ flip[i] if flip and i in flip else pre[i] > 0)
        grads[w] += jitter(inputs[i].T @ g)
        if b in p:
            grads[b] += jitter(g.sum(axis=0))
        g = jitter(g @ p[w].T)
    return value, grads, pre


def used(model: str, depth: int) -> set:
    """The parameter names a step at this depth uses."""
    names = layers(model, depth)
    return {n for pair in names for n in pair}


def train(x, y, cfg, unused: str = "step", jitter=exact, constants_in_dtype: bool = False, record=None,
          flips=None, pres=None):
    shapes = check(x, y, cfg, model=("two_layer", "dynamic"), bias=(False, True),
                   loss=("sum", "mean"), optimizer=("sgd", "adam"))
    x, y = x.astype(cfg.dtype), y.astype(cfg.dtype)
    p = start(cfg, shapes)
    init = {k: v.copy() for k, v in p.items()}
    depths = draw_depths(cfg) if cfg.model == "dynamic" else np.zeros(cfg.steps, dtype=np.int64)
    m = {k: np.zeros_like(v) for k, v in p.items()}
    v2 = {k: np.zeros_like(v) for k, v in p.items()}
    count = {k: 0 for k in p}  # Adam steps each parameter has taken
    # Adam's constants and bias corrections: Python floats, or computed in cfg.dtype (as code that
    # does every computation in the requested precision does; the shadow runs use both)
    real = np.dtype(cfg.dtype).type if constants_in_dtype else float
    beta1, beta2, eps, lr = real(BETAS[0]), real(BETAS[1]), real(EPS), real(cfg.lr)
    losses, first = np.zeros(cfg.steps), None
    for t in range(cfg.steps):
        losses[t], grads, pre = loss_and_grads(p, x, y, cfg.model, cfg.loss, depths[t], jitter, record,
                                               (flips or {}).get(t))
        if pres is not None and t in pres:  # the ReLU inputs of the steps asked for
            pres[t] = pre
        if t == 0:
            first = {k: g.copy() for k, g in grads.items()}
        live = used(cfg.model, depths[t])
        for k, g in grads.items():
            if cfg.optimizer == "sgd":
                p[k] = jitter(p[k] - lr * g)
                continue
            if unused == "skip" and k not in live:
                continue
            count[k] += 1
            m[k] = beta1 * m[k] + (1 - beta1) * g
            v2[k] = beta2 * v2[k] + (1 - beta2) * g * g
            m_hat = m[k] / (1 - jitter(beta1 ** real(count[k])))  # 1 - beta ** t cancels: an ulp of the
            v_hat = v2[k] / (1 - jitter(beta2 ** real(count[k])))  # power is 1e3 ulps of the correction
            p[k] = jitter(p[k] - jitter(lr * m_hat / (np.sqrt(v_hat) + eps)))
    return Result(losses=losses, init=init, params=p, grads=first,
                  depths=depths if cfg.model == "dynamic" else None)


def sharpness(x, y, cfg, start: dict, depths=(0,), iterations: int = 20) -> float:
    """The largest eigenvalue of the loss's Hessian at start, over the given depths: power
    iteration on Hessian-vector products, each a central difference of the gradient."""
    p0 = {k: np.asarray(v, dtype=np.float64) for k, v in start.items()}
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    scale = np.sqrt(sum(np.sum(v * v) for v in p0.values())) + 1.0
    rng = np.random.default_rng(0)
    worst = 0.0
    for depth in sorted(set(int(d) for d in depths)) or [0]:
        v = {k: rng.standard_normal(a.shape) for k, a in p0.items()}
        lam = 0.0
        for _ in range(iterations):
            norm = np.sqrt(sum(np.sum(a * a) for a in v.values()))
            if not norm > 0:
                break
            v = {k: a / norm for k, a in v.items()}
            eps = 1e-5 * scale
            plus = loss_and_grads({k: p0[k] + eps * v[k] for k in p0}, x, y, cfg.model, cfg.loss, depth)[1]
            minus = loss_and_grads({k: p0[k] - eps * v[k] for k in p0}, x, y, cfg.model, cfg.loss, depth)[1]
            hv = {k: (plus[k] - minus[k]) / (2 * eps) for k in p0}
            lam = float(sum(np.sum(v[k] * hv[k]) for k in p0))
            v = hv
        worst = max(worst, abs(lam))
    return worst


def stable_lr(fraction: float, x, y, cfg, start: dict, depths=(0,)) -> float:
    """A learning rate at which the oracle trains stably from start: for SGD, fraction / the
    sharpness (gradient descent on a quadratic is stable below 2 / sharpness); for Adam, whose
    steps are about lr per coordinate whatever the gradient's scale, fraction x 10% of the
    parameters' RMS. fraction in (0, 1]."""
    if cfg.optimizer == "sgd":
        return float(min(fraction / max(sharpness(x, y, cfg, start, depths), 1e-12), 1e6))
    rms = np.sqrt(np.mean(np.concatenate([np.ravel(v) for v in start.values()]) ** 2))
    return float(fraction * 0.1 * max(rms, 1e-3))
