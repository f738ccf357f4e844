"""Differential diagnosis: when a run disagrees with the oracle, which named bug explains it.

Every hypothesis is a small variant of the oracle: a bug that learners and framework authors
really write (a missing factor 2, a mean over N only, momentum, Adam without bias correction,
an inverted ReLU mask, gradients accumulated across steps, ...), with the fix. When a check
fails, each variant that applies to the call is run from the same start, on the same data and
depths, for as many steps as the evidence needs, and compared with what the implementation
returned under the same bounds the oracle's own comparison uses (conformance/core/envelope.py): the loss
at step 0, the step-0 gradients, every loss up to a few steps past the first disagreement, and
the final parameters when the whole run was replayed. A hypothesis is named only when it
reproduces every one of those numbers within its bound, while the oracle misses them by at least
CLEARER times as much; when two do, both are named; when none does, the message stays generic.
A wrong name is worse than none.
"""
from dataclasses import dataclass, replace

import numpy as np

from conformance.core import envelope
from conformance.core.variants import Variant, variant

STEPS_PAST = 4  # steps compared past the first disagreement
CLEARER = 10.0  # a hypothesis is named only if the oracle misses the numbers by this many times more
WORK = 4e9  # multiply-adds a diagnosis may spend on replaying variants (about a second)
WHOLE_RUN = 1.5e10  # and on replaying one whole run (the last step's gradients)
PREFIX = 8  # steps replayed first: a variant that misses them is dropped before the whole replay (the
# comparison takes the worst error over what it compares, so one that misses a prefix misses it all;
# not for a variant that reports another step's gradients, which a prefix does not reach)


@dataclass(frozen=True)
class Hypothesis:
    name: str  # the bug, in a learner's words
    fix: str
    options: Variant = Variant()  # how its run differs from the oracle's; given as a dict, made a Variant

    def __post_init__(self):
        if isinstance(self.options, dict):  # a misspelt option is a TypeError here, not silently no bug
            object.__setattr__(self, "options", Variant(**self.options))


def candidates(cfg, x, y, cell_lr=None) -> list:
    """The hypotheses that can explain a disagreement in this call."""
    n, d_out = x.shape[0], y.shape[1]
    out = []
    reported = {"mean": [(n * d_out, "the sum of squares"), (d_out, "divided by N only"), (n, "divided by D_out only")],
                "sum": [(1 / (n * d_out), "the mean of squares"), (1 / n, "divided by N"),
                        (1 / d_out, "divided by D_out")]}[cfg.loss]
    out += [Hypothesis(f"the reported loss is {what}, though the gradients are those of the {cfg.loss}",
                       "report the loss you differentiate", {"loss_value_scale": c}) for c, what in reported]
    for rows, why in {64: "the tutorial's N = 64", cfg.batch: "cfg.batch"}.items():
        if rows < n:
            out.append(Hypothesis(f"only the first {rows} rows of x and y are used ({why}); x has {n}",
                                  "train on every row: N is x.shape[0], whatever cfg.batch says", {"rows": rows}))
    if cfg.loss == "mean":
        out += [Hypothesis("the loss is the sum of squares, not their mean (nn.MSELoss)",
                           "divide by N*D_out (use the mean)", {"loss_scale": n * d_out}),
                Hypothesis("the mean divides by N only, not by N*D_out",
                           "average over every entry: .mean() of the squared errors", {"loss_scale": d_out}),
                Hypothesis("the mean divides by D_out only, not by N*D_out",
                           "average over every entry: .mean() of the squared errors", {"loss_scale": n})]
        if cfg.batch != n:
            out.append(Hypothesis("the mean divides by cfg.batch rows instead of the rows of x",
                                  "take N from x.shape[0]; cfg.batch only says what data the suite makes",
                                  {"loss_scale": n / cfg.batch}))
    else:
        out += [Hypothesis("the loss is the mean of squares, not their sum",
                           "sum the squared errors (.sum())", {"loss_scale": 1 / (n * d_out)}),
                Hypothesis("the loss is divided by N (a mean over rows), not summed",
                           "sum the squared errors over every entry", {"loss_scale": 1 / n}),
                Hypothesis("the loss is divided by D_out, not summed",
                           "sum the squared errors over every entry", {"loss_scale": 1 / d_out})]
    out += [
        Hypothesis("a missing factor 2 in the gradient of the squared error",
                   "d/dy_pred (y_pred - y)^2 = 2 (y_pred - y)", {"grad_scale": 0.5}),
        Hypothesis("a factor 2 too many in the gradient", "d/dy_pred (y_pred - y)^2 = 2 (y_pred - y), once",
                   {"grad_scale": 2.0}),
        Hypothesis("the gradients have the wrong sign (gradient ascent)", "step against the gradient: w -= lr * grad",
                   {"ascent": True}),
        Hypothesis("the learning rate is halved", "use cfg.lr as it is", {"lr_scale": 0.5}),
        Hypothesis("the learning rate is doubled", "use cfg.lr as it is", {"lr_scale": 2.0}),
        Hypothesis("the ReLU mask is inverted in the backward pass (the gradient passes where the input was negative)",
                   "zero the gradient where the ReLU input was negative: grad_h[h < 0] = 0", {"mask": "inverted"}),
        Hypothesis("the ReLU derivative is missing in the backward pass (the gradient passes everywhere)",
                   "zero the gradient where the ReLU input was negative", {"mask": "none"}),
        Hypothesis("the next layer's weight gradient uses the pre-activation h instead of relu(h)",
                   "grad_w2 = h_relu.T @ grad_y_pred", {"pre_activation_input": True}),
        Hypothesis("sigmoid instead of ReLU", "use ReLU: max(h, 0)", {"act": "sigmoid"}),
        Hypothesis("tanh instead of ReLU", "use ReLU: max(h, 0)", {"act": "tanh"}),
        Hypothesis("leaky ReLU (slope 0.01 below 0) instead of ReLU", "use ReLU: max(h, 0), gradient 0 below 0",
                   {"act": "leaky"}),
        Hypothesis("ReLU6 (clamped at 6, as nn.ReLU6 or tf.nn.relu6) instead of ReLU",
                   "use ReLU: max(h, 0), unbounded above", {"act": "relu6"}),
        Hypothesis("no activation (a linear network)", "apply ReLU after every layer but the last", {"act": "identity"}),
        Hypothesis("the losses are recorded one step late (entry t holds the loss after update t)",
                   "record the loss of the forward pass before the update", {"report_shift": 1}),
        Hypothesis("the losses are recorded one step early", "record the loss of step t in entry t",
                   {"report_shift": -1}),
        Hypothesis("the reported gradients are those of step 1 (after the first update), not step 0",
                   "keep the gradients of the first step, before it updates", {"grads_at": 1}),
        Hypothesis("the reported gradients are those of the last step, not step 0",
                   "keep the gradients of the first step, before it updates", {"grads_at": -1}),
        Hypothesis("the gradients accumulate across steps (they are never zeroed)",
                   "zero the gradients every step (optimizer.zero_grad() / w.grad.zero_())", {"accumulate": True}),
    ]
    if cfg.optimizer == "sgd" and n > 2:  # Adam's step does not see a scaled gradient
        out.append(Hypothesis(f"the step divides the gradient by N = {n} (the rows of x) again: w -= lr * grad / N",
                              "step with lr * grad: any averaging belongs in the loss, and its gradient has it",
                              {"lr_scale": 1 / n}))
    if cell_lr is not None and not np.isclose(cfg.lr, cell_lr):
        out.append(Hypothesis(f"the learning rate is fixed at {cell_lr:g} (the tutorial cell's), whatever cfg.lr says",
                              "use cfg.lr", {"lr_fixed": cell_lr}))
    for fixed in (1e-6, 1e-4, 1e-3, 1e-2):
        if not np.isclose(cfg.lr, fixed) and fixed != cell_lr:
            out.append(Hypothesis(f"the learning rate is fixed at {fixed:g}, whatever cfg.lr says", "use cfg.lr",
                                  {"lr_fixed": fixed}))
    lr32 = float(np.float32(cfg.lr))
    if cfg.dtype == "float64" and lr32 != cfg.lr:
        out.append(Hypothesis("the learning rate is rounded to float32 in a float64 run (Keras' optimizers keep "
                              "learning_rate as a float32 variable)", "step with cfg.lr in float64 (with Keras: "
                              "write the update yourself, variable.assign_sub(cfg.lr * grad))", {"lr_fixed": lr32}))
    if cfg.dtype == "float64":
        out.append(Hypothesis("x and y are rounded to float32 before the float64 run (.float() before "
                              ".to(dtype), tf.float32 by default)", "convert x and y to cfg.dtype straight from the "
                              "arrays given: torch.as_tensor(x, dtype=torch.float64)", {"inputs32": True}))
    weights = ("w1", "w2") if cfg.model == "two_layer" else ("w_in", "w_mid", "w_out")
    out += [Hypothesis(f"{w} is never updated (its gradient is computed, the update forgotten)",
                       f"update every parameter: {w} -= lr * grad_{w}", {"never_updated": w}) for w in weights]
    if cfg.bias:
        out.append(Hypothesis("the biases get no gradient (they never change)", "backpropagate into the biases: "
                              "grad_b = the sum over rows of the layer's output gradient", {"frozen_bias": True}))
    if cfg.model == "dynamic":
        out.append(Hypothesis("the shared middle layer's input is detached (no gradient flows through it)",
                              "do not detach inside the loop over depths", {"detach_mid": True}))
        for d in range(cfg.max_depth):
            out.append(Hypothesis(f"the depth is capped at {d} (a deeper step runs the middle layer {d} times)",
                                  f"run the middle layer depths[t] times at step t, up to max_depth={cfg.max_depth}",
                                  {"depth_cap": d}))
        out.append(Hypothesis("step t runs at the depth of step t-1 (depths[t - 1]; depths[-1] at step 0), while "
                              "the depths reported are right", "run step t at depths[t], the depth it reports",
                              {"depth_shift": -1}))
        for d in range(cfg.max_depth + 1):
            out.append(Hypothesis(f"the depth is always {d}, whatever cfg.depths says",
                                  "run the middle layer depths[t] times at step t", {"fixed_depth": d}))
    if cfg.optimizer == "sgd" and cfg.model == "two_layer":
        out.append(Hypothesis("w2 is updated before the gradient flows back through it (the backward pass uses "
                              "the new w2)", "compute every gradient first, then update: grad_h_relu = "
                              "grad_y_pred @ w2.T with the w2 of the forward pass", {"early_update": True}))
    if cfg.optimizer == "sgd":
        out += [Hypothesis(f"momentum {m} on top of plain gradient descent", "plain SGD: w -= lr * grad, no momentum",
                           {"momentum": m}) for m in (0.9, 0.5, 0.99)]
        out.append(Hypothesis("Nesterov momentum 0.9 on top of plain gradient descent", "plain SGD, no momentum",
                              {"momentum": 0.9, "nesterov": True}))
        out.append(Hypothesis("Adam instead of plain gradient descent", "cfg.optimizer='sgd' is plain SGD",
                              {"optimizer": "adam"}))
    else:
        out += [Hypothesis("Adam without bias correction", "divide m by 1 - beta1^t and v by 1 - beta2^t",
                           {"bias_correction": False}),
                Hypothesis("Adam's eps inside the square root", "eps goes outside: m_hat / (sqrt(v_hat) + eps)",
                           {"eps_inside": True}),
                Hypothesis("Adam with eps_root 1e-8 inside the square root as well as eps outside (optax's "
                           "eps_root)", "eps outside only: m_hat / (sqrt(v_hat) + eps), eps_root=0", {"eps_root": 1e-8}),
                Hypothesis("Adam's betas swapped (0.999, 0.9)", "beta1 = 0.9 for m, beta2 = 0.999 for v",
                           {"betas": (0.999, 0.9)}),
                Hypothesis("AMSGrad instead of Adam", "plain Adam (amsgrad=False)", {"amsgrad": True}),
                Hypothesis("plain gradient descent instead of Adam", "cfg.optimizer='adam' is torch.optim.Adam's update",
                           {"optimizer": "sgd"})]
        if cfg.model == "dynamic":
            out.append(Hypothesis("Adam mixes the contract's two conventions for an unused parameter: the shared "
                                  "layer is skipped until its first use, then stepped with a zero gradient (as "
                                  "torch's optimizer.zero_grad(set_to_none=False) makes torch.optim.Adam do)",
                                  "keep one convention for the whole run: optimizer.zero_grad() (set_to_none=True) "
                                  "leaves an unused parameter's .grad None, and Adam skips it every time",
                                  {"unused": "mixed"}))
            out.append(Hypothesis("Adam decays the unused shared layer's moments but does not move it (neither of "
                                  "the contract's two conventions)", "either step it with its zero gradient (moments "
                                  "decay and it moves, as optax does) or skip it whole (as torch.optim does)",
                                  {"unused": "decay"}))
            out.append(Hypothesis("Adam moves the unused shared layer with its old moments but does not decay them "
                                  "(neither of the contract's two conventions)", "either step it with its zero "
                                  "gradient (moments decay and it moves, as optax does) or skip it whole (as "
                                  "torch.optim does)", {"unused": "stale"}))
            out.append(Hypothesis("Adam skips the unused shared layer (torch.optim's convention) but bias-corrects "
                                  "it with the run's step count, not the steps it has taken",
                                  "count each parameter's own Adam steps: a skipped step does not advance its t "
                                  "(torch.optim keeps state['step'] per parameter)",
                                  {"unused": "skip", "global_count": True}))
        out += [Hypothesis(f"Adam with eps {e:g} instead of 1e-8", "eps = 1e-8 (torch.optim.Adam's)", {"eps": e})
                for e in (1e-7, 1e-6, 1e-5, 1e-10)]
        out += [Hypothesis(f"Keras' Adam (keras.optimizers.Adam: eps {e:g} added to the root of the uncorrected "
                           "second moment, 'epsilon hat'; the learning rate and the bias correction's betas in "
                           "float32)", "write torch.optim.Adam's update out, in cfg.dtype: m_hat / (sqrt(v_hat) + 1e-8)",
                           {"eps": e, "keras": True, "lr_fixed": lr32}) for e in (1e-7, 1e-8)]
        out.append(Hypothesis("Adam's eps added to the root of the uncorrected second moment ('epsilon hat': "
                              "lr * sqrt(1 - beta2^t) / (1 - beta1^t) * m / (sqrt(v) + eps), the paper's faster form)",
                              "add eps to the root of the bias-corrected second moment: m_hat / (sqrt(v_hat) + 1e-8)",
                              {"keras": True, "betas64": True}))
        out += [Hypothesis(f"Adam with betas {b}", "betas (0.9, 0.999)", {"betas": b})
                for b in ((0.9, 0.99), (0.5, 0.999), (0.0, 0.999))]
        out += [Hypothesis(f"AdamW (decoupled weight decay {wd:g}) instead of Adam", "plain Adam: no weight decay",
                           {"decoupled_decay": wd}) for wd in (1e-2, 1e-3, 1e-4)]
    out += [Hypothesis(f"weight decay {wd:g} (L2 added to the gradient)", "no weight decay", {"weight_decay": wd})
            for wd in (1e-1, 1e-2, 5e-4, 1e-4)]
    out += [Hypothesis(f"gradient clipping at a total norm of {c:g}", "no clipping", {"clip": c})
            for c in (0.1, 0.5, 1.0, 5.0, 10.0)]
    return out


def schedule_candidates(first_bad_step: int) -> list:
    """A learning rate that changes at the step where the run first disagrees."""
    k = max(first_bad_step - 1, 1)
    return [Hypothesis(f"the learning rate changes after {k} steps (a schedule: x{g:g})",
                       "a constant learning rate: no scheduler", {"schedule": (k, g)}) for g in (0.1, 0.5, 2.0, 10.0)]


# ----------------------------------------------------------------- naming the bug


def diagnose(got: dict, ref, x, y, first_bad_step: int = 0, cell_lr=None) -> str:
    """'' or a sentence naming the hypotheses that reproduce got where the oracle (ref) does not."""
    cfg = ref.cfg
    start, depths = cfg.init, cfg.depths
    steps = min(cfg.steps, ref.horizon, first_bad_step + STEPS_PAST + 1)
    n, d_in, d_out, h = x.shape[0], x.shape[1], y.shape[1], cfg.hidden
    per_step = n * h * (d_in + d_out) * 3 + (3 * n * h * h * cfg.max_depth if cfg.model == "dynamic" else 0)
    hypotheses = candidates(cfg, x, y, cell_lr)
    if first_bad_step > 1:
        hypotheses += schedule_candidates(first_bad_step)
    budget = WORK / max(per_step, 1)
    steps = int(min(steps, max(budget / len(hypotheses), 1)))
    if cfg.steps == 0:
        return ""
    whole = steps == cfg.steps
    x64, y64 = (np.asarray(a).astype(cfg.dtype).astype(np.float64) for a in (x, y))
    observed = {"losses": np.asarray(got["losses"], dtype=np.float64)[:steps], "grads": got.get("grads") or {},
                "params": got.get("params") or {}}
    matches = []
    with np.errstate(all="ignore"):
        base = Variant(unused=ref.unused)  # the convention for an unused parameter the reference was run with
        oracle_miss = _closeness(observed, variant(x64, y64, cfg, start, depths, steps, base), ref, steps, whole)
        for hyp in hypotheses:
            n_steps, complete = steps, whole
            opt = hyp.options if hyp.options.unused else replace(hyp.options, unused=ref.unused)
            if opt.grads_at == -1:  # the last step's gradients need the whole run
                if cfg.steps * per_step > WHOLE_RUN:
                    continue
                # which step's gradients it reports changes no loss: one that misses the losses
                # compared misses it all, and is dropped before the whole replay
                try:
                    early = variant(x64, y64, cfg, start, depths, steps, replace(opt, grads_at=0))
                except (ValueError, KeyError, FloatingPointError, IndexError):
                    continue
                if _closeness(observed, {**early, "grads": {}}, ref, steps, False) > 1:
                    continue
                n_steps, complete = cfg.steps, True
            prune = PREFIX < n_steps == steps and opt.grads_at == 0
            try:
                if prune:  # a variant that misses the first steps misses the whole run
                    run = variant(x64, y64, cfg, start, depths, PREFIX, opt)
                    if _closeness({**observed, "losses": observed["losses"][:PREFIX]}, run, ref, PREFIX, False) > 1:
                        continue
                run = variant(x64, y64, cfg, start, depths, n_steps, opt)
            except (ValueError, KeyError, FloatingPointError, IndexError):
                continue
            if n_steps != steps:
                run = {**run, "losses": run["losses"][:steps]}
            closeness = _closeness(observed, run, ref, steps, complete)
            if closeness <= 1.0 and closeness * CLEARER <= oracle_miss:
                matches.append((closeness, hyp))
    if not matches:
        return ""
    matches.sort(key=lambda m: m[0])
    named = [h for c, h in matches[:2] if c <= CLEARER * max(matches[0][0], 1e-3)]
    compared = ["loss", "gradients"] + ([f"losses to step {steps - 1}"] if steps > 1 else []) + \
        (["parameters"] if whole else [])
    closeness = "exactly" if matches[0][0] == 0 else f"within {matches[0][0]:.2g} of the rounding bound"
    how = f"it reproduces the {', '.join(compared)} {closeness}"
    if len(named) == 1:
        return f"likely: {named[0].name} ({how}). Fix: {named[0].fix}"
    return (f"likely one of: {named[0].name}; or {named[1].name} (each reproduces every compared number to "
            f"within the rounding bound). Fix: {named[0].fix}")


def _closeness(observed, run, ref, steps, whole) -> float:
    """The largest error / bound of observed against a variant's run (inf where one is missing).
    The bounds are the oracle's relative ones, carried over to the variant's magnitudes."""
    floor = envelope.FLOOR_ULPS * envelope.U[ref.cfg.dtype]
    worst = 0.0
    loss, expected = observed["losses"], run["losses"]
    if loss.shape != expected.shape:
        return np.inf
    known = ~np.isnan(expected)  # a variant that records losses a step early has none for its last step
    loss, expected = loss[known], expected[known]
    rel = (ref.bound("losses")[:steps] / np.maximum(np.abs(ref.run["losses"][:steps]), 1e-300))[:expected.size]
    b = rel * np.abs(expected) + floor * np.abs(expected)
    err = np.abs(loss - expected)
    if err.size:
        ratio = err / np.maximum(b, 1e-300)
        worst = max(worst, float(np.max(ratio)) if np.isfinite(ratio).all() else np.inf)
    kinds = [("grads", run["grads"])] + ([("params", run["params"])] if whole and ref.horizon == ref.cfg.steps else [])
    for kind, arrays in kinds:
        for name, want in arrays.items():
            a = observed[kind].get(name) if hasattr(observed[kind], "get") else None
            if a is None or np.shape(a) != want.shape:
                return np.inf
            size = np.linalg.norm(want)
            rel = ref.bound(kind, name) / max(np.linalg.norm(ref.run[kind][name]), 1e-300)
            b = (rel + floor) * size
            r = float(np.linalg.norm(np.asarray(a, dtype=np.float64) - want) / max(b, 1e-300))
            worst = max(worst, r) if np.isfinite(r) else np.inf
    return worst if np.isfinite(worst) else np.inf
