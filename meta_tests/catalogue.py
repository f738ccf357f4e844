"""The catalogue of broken implementations: realistic bugs, each a small edit of a correct module.

Every entry names the module it breaks (a bundled one in implementations/, or a correct module in
another style in meta_tests/correct/), the edit (text that must occur exactly once, and its
replacement), the check family that must catch it, a pattern its failure message must match,
and, for a bug with a plain name, the pattern the diagnosis must name it by ("likely: ...").
meta_tests/test_catalogue.py writes each broken module out and runs that family on it with
--impl. Write them out to read or run by hand: `python -m meta_tests.catalogue DIR`.
"""
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Bug:
    id: str
    source: str  # "numpy_manual" (implementations/) or "correct/einsum_numpy" (meta_tests/correct/)
    edits: tuple  # ((old, new), ...): old occurs exactly once in the source
    family: str  # the test module that must fail
    message: str  # a regex the failure message must match
    names: str = ""  # a regex the diagnosis must match ("likely: ..."), for a bug with a plain name
    isolate: bool = False  # run it in a fresh process: its damage cannot be put back, or only shows there
    select: str = ""  # a -k expression that narrows the family to the tests that show the bug (a slow module)
    args: tuple = ()  # more options for its run (a short --call-timeout for a module that hangs)
    fault: bool = False  # a misbehaviour of its process: also run beside a correct module (meta_tests/test_faults.py)

    @property
    def path(self) -> Path:
        if self.source.startswith("correct/"):
            return ROOT / "meta_tests" / f"{self.source}.py"
        return ROOT / "implementations" / f"{self.source}.py"

    def text(self) -> str:
        text = self.path.read_text()
        for old, new in self.edits:
            if text.count(old) != 1:
                raise AssertionError(f"{self.id}: {old!r} occurs {text.count(old)} times in {self.path.name}")
            text = text.replace(old, new)
        return text


def first_statement(source: str, statement: str) -> tuple:
    """An edit that puts statement first in train (after its input check line)."""
    line = {"numpy_manual": "    shapes = check(x, y, cfg)\n",
            "torch_tensors": "    shapes = check(x, y, cfg, devices=devices())\n",
            "torch_autograd": "    shapes = check(x, y, cfg, devices=devices())\n"}[source]
    return ((line, line + f"    {statement}\n"),)


def long_call(statement: str, imports: str, steps: int = 100) -> tuple:
    """Edits of correct/student.py: statement runs first in a call of `steps` steps or more (by
    default the tutorial cell's run, not the probe's one step); imports go at the top."""
    return (("def train(x, y, cfg):\n    shapes = _checked(x, y, cfg)\n",
             f"def train(x, y, cfg):\n    shapes = _checked(x, y, cfg)\n    if cfg.steps >= {steps}:\n"
             f"        {statement}\n"),
            ("import copy\n", f"import copy\n{imports}"))


MASKED = r"the run overflows at step \d+.* but its losses are finite .*masked, clipped"  # a diverged run's message

BUGS = [
    # --- the backward pass (gradients family; the diagnosis names the bug)
    Bug("relu_mask_inverted", "numpy_manual", (("grad_h[h < 0] = 0", "grad_h[h > 0] = 0"),),
        "test_gradients", r"w1 grad differs .* the backward pass is wrong", r"ReLU mask is inverted"),
    Bug("missing_factor_two", "numpy_manual", (("grad_y_pred = 2.0 * (y_pred - y)", "grad_y_pred = y_pred - y"),),
        "test_gradients", r"w\d grad differs .* the backward pass is wrong", r"missing factor 2"),
    Bug("grad_from_preactivation", "numpy_manual", (("grad_w2 = h_relu.T.dot", "grad_w2 = h.T.dot"),),
        "test_gradients", r"w2 grad differs", r"pre-activation h instead of relu"),
    Bug("w2_updated_before_backprop", "numpy_manual",
        (("        grad_w2 = h_relu.T.dot(grad_y_pred)\n",
          "        grad_w2 = h_relu.T.dot(grad_y_pred)\n        w2 = w2 - learning_rate * grad_w2  # as soon as it is known\n"),
         ("        w2 -= learning_rate * grad_w2\n", "")),
        "test_gradients", r"w1 grad differs .* the backward pass is wrong", r"w2 is updated before the gradient flows back"),
    Bug("backward_ignores_saved_input", "torch_function", (("grad_input[input < 0] = 0", "pass"),),
        "test_gradients", r"w1 grad differs", r"ReLU derivative is missing"),
    Bug("shared_layer_detached", "nn_dynamic",
        (("self.middle_linear(h_relu)", "self.middle_linear(h_relu.detach())"),),
        "test_gradients", r"[wb]_(in|mid) grad differs .*depth [123]", r"shared middle layer's input is detached",
        select="at_depth"),
    Bug("sigmoid_instead_of_relu", "numpy_manual",
        (("h_relu = np.maximum(h, 0)", "h_relu = 1 / (1 + np.exp(-h))"),
         ("grad_h = grad_h_relu.copy()\n        grad_h[h < 0] = 0", "grad_h = grad_h_relu * h_relu * (1 - h_relu)")),
        "test_gradients", r"matches those of your own loss .*the forward pass or the loss differs",
        r"sigmoid instead of ReLU"),
    Bug("tanh_instead_of_relu", "torch_autograd", (("y_pred = x.mm(w1).clamp(min=0).mm(w2)", "y_pred = x.mm(w1).tanh().mm(w2)"),),
        "test_trajectory", r"loss at step 0 .* the forward pass or the loss differs", r"tanh instead of ReLU",
        select="matches_reference and float64"),
    # --- the loss
    Bug("loss_is_mean_not_sum", "numpy_manual", (("np.square(y_pred - y).sum()", "np.square(y_pred - y).mean()"),),
        "test_trajectory", r"loss at step 0 is .* the forward pass or the loss differs",
        r"reported loss is the mean of squares, though the gradients are those of the sum",
        select="matches_reference and float64"),
    Bug("mean_over_n_only", "correct/student",
        (("out[\"losses\"].append(float(np.mean(e * e)))", "out[\"losses\"].append(float(np.sum(e * e) / len(e)))"),
         ("d = 2 * e / e.size", "d = 2 * e / len(e)")),
        "test_trajectory", r"loss at step 0 is", r"mean divides by N only", select="matches_reference and float64"),
    Bug("mean_over_cfg_batch", "correct/student",
        (("out[\"losses\"].append(float(np.mean(e * e)))",
          "out[\"losses\"].append(float(np.sum(e * e) / (cfg.batch * e.shape[1])))"),
         ("d = 2 * e / e.size", "d = 2 * e / (cfg.batch * e.shape[1])")),
        "test_domain", r"loss at step 0 is", r"divides by cfg.batch rows instead of the rows of x"),
    Bug("broadcast_when_d_out_is_1", "torch_autograd",
        (("loss = (y_pred - y).pow(2).sum()", "loss = (y_pred.squeeze() - y).pow(2).sum()"),),
        "test_domain", r"loss at step 0 is .* the forward pass or the loss differs"),
    # --- reporting
    Bug("loss_reported_one_step_late", "numpy_manual", (("losses[t] = loss", "losses[t - 1] = loss"),),
        "test_trajectory", r"loss at step 0 is", r"losses are recorded one step late",
        select="matches_reference and float64"),
    Bug("grads_reported_after_first_update", "numpy_manual", (("        if t == 0:\n", "        if t == 1:\n"),),
        "test_contract", r"train fails on a one-step call of its own cell: train returned a result without \['grads'\]"),
    Bug("grads_reported_at_last_step", "numpy_manual", (("        if t == 0:\n", "        if t == cfg.steps - 1:\n"),),
        "test_trajectory", r"step-0 gradient differs", r"last step", select="matches_reference and float64"),
    Bug("init_aliases_params", "numpy_manual", (("init = {k: v.copy() for k, v in p.items()}", "init = p"),),
        "test_contract", r"init\['w\d'\] differs from cfg.init"),
    # --- the update
    Bug("w2_never_updated", "numpy_manual", (("        w2 -= learning_rate * grad_w2\n", ""),),
        "test_trajectory", r"the update differs", r"w2 is never updated", select="matches_reference and float64"),
    Bug("gradient_ascent", "numpy_manual", (("w1 -= learning_rate * grad_w1", "w1 += learning_rate * grad_w1"),),
        "test_learning", r"final loss / initial loss|training diverged"),
    Bug("lr_halved", "numpy_manual", (("learning_rate = cfg.lr", "learning_rate = cfg.lr / 2"),),
        "test_trajectory", r"loss diverged from the reference at step 1\b", r"learning rate is halved",
        select="matches_reference and float64"),
    Bug("update_divided_by_n", "numpy_manual",
        (("w1 -= learning_rate * grad_w1", "w1 -= learning_rate * grad_w1 / x.shape[0]"),
         ("w2 -= learning_rate * grad_w2", "w2 -= learning_rate * grad_w2 / x.shape[0]")),
        "test_trajectory", r"loss diverged from the reference at step 1\b", r"divides the gradient by N = 64",
        select="matches_reference and float64"),
    Bug("lr_hardcoded", "numpy_manual", (("learning_rate = cfg.lr", "learning_rate = 1e-6"),),
        "test_domain", r"loss diverged from the reference at step 1\b", r"learning rate is fixed at 1e-06"),
    Bug("lr_schedule_after_1000_steps", "numpy_manual",
        (("        # Forward pass: compute predicted y.\n",
          "        if t == 1000:\n            learning_rate = cfg.lr / 10\n        # Forward pass: compute predicted y.\n"),),
        "test_domain", r"loss diverged from the reference at step 1001", r"learning rate changes after 1000 steps"),
    Bug("lr_schedule_after_2000_steps", "correct/einsum_numpy",
        (("    for t in range(cfg.steps):\n",
          "    for t in range(cfg.steps):\n        lr = float(cfg.lr) if t < 2000 else float(cfg.lr) / 2\n"),),
        "test_domain", r"loss diverged from the reference at step 2001", r"learning rate changes after 2000 steps"),
    Bug("momentum_added", "nn_module", (("torch.optim.SGD(model.parameters(), lr=float(cfg.lr))",
                                         "torch.optim.SGD(model.parameters(), lr=float(cfg.lr), momentum=0.9)"),),
        "test_trajectory", r"loss diverged from the reference at step 2\b", r"momentum 0.9",
        select="matches_reference and float64"),
    Bug("gradient_clipping", "nn_sequential",
        (("        with torch.no_grad():\n            for param in model.parameters():",
          "        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)\n"
          "        with torch.no_grad():\n            for param in model.parameters():"),),
        "test_domain", r"loss diverged from the reference", r"gradient clipping at a total norm of 1"),
    Bug("forgot_zero_grad", "torch_autograd", (("            w1.grad.zero_()\n            w2.grad.zero_()\n", ""),),
        "test_trajectory", r"loss diverged from the reference at step 2\b", r"gradients accumulate across steps",
        select="matches_reference and float64"),
    Bug("forgot_model_zero_grad", "nn_sequential", (("        model.zero_grad()\n", ""),),
        "test_trajectory", r"loss diverged from the reference at step 2\b", r"gradients accumulate across steps",
        select="matches_reference and float64"),
    Bug("optimizer_rebuilt_every_step", "nn_optim",
        (("        optimizer.zero_grad()\n",
          "        optimizer = torch.optim.Adam(model.parameters(), lr=float(cfg.lr))\n        optimizer.zero_grad()\n"),),
        "test_trajectory", r"loss diverged from the reference at step 2\b", select="matches_reference and float64"),
    # --- Adam
    Bug("adam_betas_swapped", "nn_optim", (("torch.optim.Adam(model.parameters(), lr=float(cfg.lr))",
                                            "torch.optim.Adam(model.parameters(), lr=float(cfg.lr), betas=(0.999, 0.9))"),),
        "test_trajectory", r"loss diverged from the reference at step 2\b", r"betas swapped",
        select="matches_reference and float64"),
    Bug("amsgrad", "nn_optim", (("torch.optim.Adam(model.parameters(), lr=float(cfg.lr))",
                                 "torch.optim.Adam(model.parameters(), lr=float(cfg.lr), amsgrad=True)"),),
        "test_trajectory", r"loss diverged from the reference", r"AMSGrad", select="matches_reference and float64"),
    Bug("adam_eps_1e-7", "nn_optim", (("torch.optim.Adam(model.parameters(), lr=float(cfg.lr))",
                                       "torch.optim.Adam(model.parameters(), lr=float(cfg.lr), eps=1e-7)"),),
        "test_trajectory", r"loss diverged from the reference", r"eps 1e-07", select="matches_reference and float64"),
    Bug("adamw", "nn_optim", (("torch.optim.Adam(model.parameters(), lr=float(cfg.lr))",
                               "torch.optim.AdamW(model.parameters(), lr=float(cfg.lr))"),),
        "test_trajectory", r"loss diverged from the reference", r"AdamW \(decoupled weight decay 0.01\)",
        select="matches_reference and float64"),
    Bug("adam_without_bias_correction", "correct/einsum_numpy",
        (("p[k] = p[k] - lr * (m[k] / (1 - 0.9 ** (t + 1))) / (np.sqrt(v[k] / (1 - 0.999 ** (t + 1))) + 1e-8)",
          "p[k] = p[k] - lr * m[k] / (np.sqrt(v[k]) + 1e-8)"),),
        "test_trajectory", r"loss diverged from the reference at step 1\b", r"Adam without bias correction",
        select="adam and float64"),
    Bug("adam_epsilon_hat", "correct/einsum_numpy",
        (("p[k] = p[k] - lr * (m[k] / (1 - 0.9 ** (t + 1))) / (np.sqrt(v[k] / (1 - 0.999 ** (t + 1))) + 1e-8)",
          "p[k] = p[k] - lr * np.sqrt(1 - 0.999 ** (t + 1)) / (1 - 0.9 ** (t + 1)) * m[k] / (np.sqrt(v[k]) + 1e-8)"),),
        "test_trajectory", r"loss diverged from the reference at step 1\b", r"'epsilon hat'", select="adam and float64"),
    Bug("adamw_optax_default_decay", "correct/einsum_numpy",  # optax.adamw(lr): weight_decay 1e-4
        (("                p[k] = p[k] - lr * (m[k] / (1 - 0.9 ** (t + 1)))",
          "                p[k] = p[k] * (1 - cfg.lr * 1e-4)\n                p[k] = p[k] - lr * (m[k] / (1 - 0.9 ** (t + 1)))"),),
        "test_trajectory", r"loss diverged from the reference", r"AdamW \(decoupled weight decay 0.0001\)",
        select="adam and float64"),
    Bug("adam_eps_root", "correct/einsum_numpy",  # optax.adam(lr, eps_root=1e-8)
        (("(np.sqrt(v[k] / (1 - 0.999 ** (t + 1))) + 1e-8)", "(np.sqrt(v[k] / (1 - 0.999 ** (t + 1)) + 1e-8) + 1e-8)"),),
        "test_trajectory", r"loss diverged from the reference", r"optax's eps_root", select="adam and float64"),
    Bug("adam_eps_inside_sqrt", "correct/einsum_numpy",
        (("(np.sqrt(v[k] / (1 - 0.999 ** (t + 1))) + 1e-8)", "np.sqrt(v[k] / (1 - 0.999 ** (t + 1)) + 1e-8)"),),
        "test_domain", r"loss diverged from the reference", r"eps inside the square root"),
    Bug("adam_skip_counts_globally", "correct/einsum_numpy",
        (("        for k in p:\n", "        for k in p:\n            if cfg.model == \"dynamic\" and depths[t] == 0 and k in (\"w_mid\", \"b_mid\"):\n"
          "                continue  # skipped, as torch.optim does; but bias-corrected below with the run's t\n"),),
        "test_trajectory", r"the update differs", r"bias-corrects it with the run's step count", select="dynamic and adam"),
    Bug("depth_used_a_step_late", "correct/einsum_numpy",
        (("loss_and_grads(p, x, y, cfg, int(depths[t]))", "loss_and_grads(p, x, y, cfg, int(depths[t - 1]))"),),
        "test_trajectory", r"the forward pass or the loss differs", r"step t runs at the depth of step t-1",
        select="matches_reference and float64"),
    Bug("leaky_relu", "correct/einsum_numpy",
        (("            z = np.where(z > 0, z, 0)", "            z = np.where(z > 0, z, 0.01 * z)"),
         ("* (pres[i - 1] > 0)", "* np.where(pres[i - 1] > 0, 1.0, 0.01)")),
        "test_gradients", r"the forward pass or the loss differs", r"leaky ReLU \(slope 0.01 below 0\)",
        select="reference_differences"),
    Bug("adam_unused_decays_without_moving", "correct/einsum_numpy",
        (("                p[k] = p[k] - lr * (m[k] / (1 - 0.9 ** (t + 1)))",
          "                if cfg.model == \"dynamic\" and depths[t] == 0 and k in (\"w_mid\", \"b_mid\"):\n"
          "                    continue  # its moments decayed above, but it does not move\n"
          "                p[k] = p[k] - lr * (m[k] / (1 - 0.9 ** (t + 1)))"),),
        "test_trajectory", r"the update differs", r"decays the unused shared layer's moments but does not move it",
        select="dynamic and adam"),
    Bug("adam_unused_moves_without_decay", "correct/einsum_numpy",
        (("                m[k] = 0.9 * m[k] + 0.1 * g[k]\n                v[k] = 0.999 * v[k] + 0.001 * g[k] ** 2\n",
          "                if not (cfg.model == \"dynamic\" and depths[t] == 0 and k in (\"w_mid\", \"b_mid\")):\n"
          "                    m[k] = 0.9 * m[k] + 0.1 * g[k]  # an unused layer keeps its old moments, and moves\n"
          "                    v[k] = 0.999 * v[k] + 0.001 * g[k] ** 2\n"),),
        "test_trajectory", r"the update differs", r"moves the unused shared layer with its old moments",
        select="dynamic and adam"),
    Bug("input_buffer_kept_from_the_first_call", "correct/einsum_numpy",
        (("    x, y = np.array(x, dtype=cfg.dtype), np.array(y, dtype=cfg.dtype)\n",
          "    x, y = np.array(x, dtype=cfg.dtype), np.array(y, dtype=cfg.dtype)\n"
          "    buffer = BUFFERS.setdefault((cfg.model, cfg.dtype), np.empty_like(x))  # sized by the first call\n"
          "    np.copyto(buffer, x)\n    x = buffer\n"),
         ("TAGS = (\"numpy\",)\n", "TAGS = (\"numpy\",)\nBUFFERS = {}\n")),
        "test_domain", r"ValueError: could not broadcast .*fails only after the calls made before it in this process",
        select="test_domain"),
    Bug("adam_moments_carried_over", "correct/einsum_numpy",
        (("    m = {k: np.zeros_like(v) for k, v in p.items()}\n    v = {k: np.zeros_like(a) for k, a in p.items()}\n",
          "    key = tuple(sorted((k, a.shape, a.dtype.str) for k, a in p.items()))\n"
          "    m, v = MOMENTS.setdefault(key, ({k: np.zeros_like(a) for k, a in p.items()},\n"
          "                                    {k: np.zeros_like(a) for k, a in p.items()}))\n"),
         ("TAGS = (\"numpy\",)\n", "TAGS = (\"numpy\",)\nMOMENTS = {}  # Adam's moments, kept for the next call\n")),
        "test_domain", r"loss diverged from the reference|after \d+ steps? differs from the reference"),
    # --- a compiled step that bakes a value in
    Bug("keras_sgd_lr_in_float32", "correct/keras_layers",
        (("    ys = tf.constant(np.asarray(y, dtype=cfg.dtype))\n",
          "    ys = tf.constant(np.asarray(y, dtype=cfg.dtype))\n    sgd = keras.optimizers.SGD(learning_rate=cfg.lr)\n"),
         ("            for k in used:\n                variables[k].assign_sub(cfg.lr * grads[k])\n",
          "            sgd.apply_gradients([(grads[k], variables[k]) for k in used])\n")),
        "test_trajectory", r"the update differs.*float64\]", r"rounded to float32",
        select="matches_reference and float64"),
    Bug("adam_conventions_mixed", "correct/tutorial_nn",
        (("        optimizer.zero_grad()\n", "        optimizer.zero_grad(set_to_none=False)\n"),),
        "test_trajectory", r"the update differs", r"Adam mixes the contract's two conventions for an unused parameter",
        select="dynamic and adam"),
    Bug("keras_adam_epsilon_hat", "correct/keras_layers",
        (("    ys = tf.constant(np.asarray(y, dtype=cfg.dtype))\n",
          "    ys = tf.constant(np.asarray(y, dtype=cfg.dtype))\n    adam = keras.optimizers.Adam(learning_rate=cfg.lr)\n"),
         ("        for k in used:  # Adam, torch.optim's update; a layer this step did not use is skipped\n"
          "            m, v, n = slots[k]\n            g = np.array(grads[k])\n            n += 1\n"
          "            m = 0.9 * m + 0.1 * g\n            v = 0.999 * v + 0.001 * g * g\n            slots[k] = [m, v, n]\n"
          "            step = cfg.lr * (m / (1 - 0.9 ** n)) / (np.sqrt(v / (1 - 0.999 ** n)) + 1e-8)\n"
          "            variables[k].assign_sub(step.astype(cfg.dtype))\n",
          "        adam.apply_gradients([(grads[k], variables[k]) for k in used])  # Keras' own Adam\n")),
        "test_trajectory", r"the update differs.*float64\]",
        r"Keras' Adam \(keras.optimizers.Adam: eps 1e-07 added to the root of the uncorrected second moment",
        select="adam and float64 and nobias and sum"),
    Bug("jit_step_keeps_first_lr", "correct/jax_style",
        (("@functools.cache\ndef stepper(model, loss, optimizer, depth):",
          "STEPPERS = {}\n\n\ndef stepper(model, loss, optimizer, depth, lr):\n"
          "    key = (model, loss, optimizer, depth)  # one compiled step per structure\n"
          "    if key not in STEPPERS:\n        STEPPERS[key] = make_stepper(model, loss, optimizer, depth, lr)\n"
          "    return STEPPERS[key]\n\n\ndef make_stepper(model, loss, optimizer, depth, first_lr):"),
         ("    def step(params, m, v, t, lr, x, y):", "    def step(params, m, v, t, lr_given, x, y):\n        lr = first_lr"),
         ("            step = stepper(cfg.model, cfg.loss, cfg.optimizer, int(depths[t]))",
          "            step = stepper(cfg.model, cfg.loss, cfg.optimizer, int(depths[t]), cfg.lr)")),
        "test_domain", r"loss diverged from the reference at step 1\b|after 1 step differs"),
    # --- sizes
    Bug("losses_squeezed", "correct/student",
        (('out["losses"] = np.array(out["losses"])', 'out["losses"] = np.array(out["losses"]).squeeze()'),),
        "test_gradients", r"losses has shape \(\) for steps=1, but should be \(1,\) \(squeezed\?"),
    Bug("rows_cut_to_the_cell", "correct/student",
        (("    x, y = np.array(x, dtype=cfg.dtype), np.array(y, dtype=cfg.dtype)\n",
          "    x, y = np.array(x[:64], dtype=cfg.dtype), np.array(y[:64], dtype=cfg.dtype)  # the tutorial's batch\n"),),
        "test_domain", r"loss at step 0 is .* the forward pass or the loss differs", r"only the first 64 rows",
        select="beyond"),
    Bug("rows_cut_to_cfg_batch", "correct/einsum_numpy",
        (("    x, y = np.array(x, dtype=cfg.dtype), np.array(y, dtype=cfg.dtype)\n",
          "    x, y = np.array(x[:cfg.batch], dtype=cfg.dtype), np.array(y[:cfg.batch], dtype=cfg.dtype)\n"),),
        "test_domain", r"the forward pass or the loss differs", r"only the first \d+ rows of x and y are used \(cfg.batch\)",
        select="not beyond"),
    Bug("hidden_hardcoded_100", "numpy_manual",
        (("    shapes = check(x, y, cfg)\n",
          "    shapes = check(x, y, cfg)\n    shapes = {\"w1\": (x.shape[1], 100), \"w2\": (100, y.shape[1])}  # H = 100\n"),),
        "test_domain", r"init\['w1'\] has shape \(\d+, 100\), but should be", r"H is hard-coded as 100"),
    Bug("d_in_from_cfg", "numpy_manual",
        (("    shapes = check(x, y, cfg)\n",
          "    shapes = check(x, y, cfg)\n    shapes = {\"w1\": (cfg.d_in, cfg.hidden), \"w2\": (cfg.hidden, y.shape[1])}\n"),),
        "test_domain", r"cfg.batch/d_in/d_out .* differ from the arrays'"),
    # --- contract
    Bug("linear_weight_untransposed", "nn_sequential",
        (("params=linear_params(layers)",
          "params={'w1': numpy(model[0].weight), 'b1': numpy(model[0].bias), "
          "'w2': numpy(model[2].weight), 'b2': numpy(model[2].bias)}"),),
        "test_contract", r"params\['w1'\] has shape \(100, 1000\), but should be \(1000, 100\) \(transposed"),
    Bug("ignores_cfg_init", "numpy_manual", (("p = start(cfg, shapes)", "p = start(cfg.replace(init=None), shapes)"),),
        "test_contract", r"differs from cfg.init"),
    Bug("ignores_dtype", "numpy_manual",
        (("x, y = x.astype(cfg.dtype), y.astype(cfg.dtype)", "x, y = x.astype('float64'), y.astype('float64')"),),
        "test_contract", r"has dtype float64, but should be float32"),
    Bug("inputs_rounded_to_float32", "torch_autograd",
        (("    x, y = tensor(x, cfg), tensor(y, cfg)\n",
          "    x, y = (torch.from_numpy(a.copy()).float().to(getattr(torch, cfg.dtype)) for a in (x, y))\n"),),
        "test_trajectory", r"loss at step 0 is .* the forward pass or the loss differs.*float64\]",
        r"x and y are rounded to float32 before the float64 run", select="matches_reference and float64"),
    Bug("relu6", "nn_sequential", (("        nn.ReLU(),\n", "        nn.ReLU6(),\n"),),  # invisible at its cell:
        "test_domain", r"the forward pass or the loss differs", r"ReLU6"),  # inputs there never reach 6
    Bug("init_cached_and_returned", "numpy_manual",
        (("    p = start(cfg, shapes)\n    init = {k: v.copy() for k, v in p.items()}\n",
          "    key = (cfg.seed, cfg.dtype, tuple(sorted(shapes.items())))\n"
          "    init = INITS.setdefault(key, start(cfg, shapes)) if cfg.init is None else start(cfg, shapes)\n"
          "    p = {k: v.copy() for k, v in init.items()}\n"),
         ('TAGS = ("warmup", "numpy")\n', 'TAGS = ("warmup", "numpy")\nINITS = {}  # drawn inits, kept: a seed draws the same\n')),
        "test_hygiene", r"after the caller wrote NaN into the arrays the first call returned .* a different 'losses'",
        select="results_are_the_callers"),
    Bug("writes_into_cfg_init", "numpy_manual",
        first_statement("numpy_manual", "if cfg.init is not None:  # the given start in our precision, in place\n"
                                        "        cfg.init.update({k: v.astype(cfg.dtype) for k, v in cfg.init.items()})"),
        "test_hygiene", r"put another array into the caller's cfg.init\['w1'\]", select="inputs_unchanged"),
    Bug("x_not_converted", "numpy_manual",
        (("x, y = x.astype(cfg.dtype), y.astype(cfg.dtype)", "y = y.astype(cfg.dtype)"),),
        "test_domain", r"has dtype float64, but should be float32"),
    # --- computed in float64 for a float32 run, with only the returned arrays rounded to float32
    Bug("float64_inside_numpy", "correct/student",
        (("x, y = np.array(x, dtype=cfg.dtype), np.array(y, dtype=cfg.dtype)", "x, y = np.array(x, float), np.array(y, float)"),
         ("p = {k: np.array(init[k], dtype=cfg.dtype) for k in shapes}", "p = {k: np.array(init[k], float) for k in shapes}"),
         (".astype(cfg.dtype) for k, s in shapes.items()}", ".astype(cfg.dtype).astype(float) for k, s in shapes.items()}"),
         ("p[k] - lr * g[k]", "p[k] - float(cfg.lr) * g[k]"),
         ('    out["params"] = p\n', '    out["params"] = {k: v.astype(cfg.dtype) for k, v in p.items()}\n'
                                  '    out["init"] = {k: v.astype(cfg.dtype) for k, v in out["init"].items()}\n'
                                  '    out["grads"] = {k: v.astype(cfg.dtype) for k, v in out.get("grads", p).items()}\n')),
        "test_trajectory", r"computes in higher precision than cfg.dtype='float32'", select="float32"),
    Bug("float64_inside_torch", "correct/tutorial_nn",
        (("    dtype = getattr(torch, cfg.dtype)\n", "    dtype = torch.float64  # double inside, for accuracy\n"),
         ("t.detach().numpy().copy()", "t.detach().numpy().astype(cfg.dtype)")),
        "test_trajectory", r"computes in higher precision than cfg.dtype='float32'", select="float32"),
    Bug("negative_strides_refused", "torch_tensors",
        (("    x, y = tensor(x, cfg), tensor(y, cfg)\n",
          "    x, y = (torch.tensor(a, dtype=getattr(torch, cfg.dtype)) for a in (x, y))\n"),),
        "test_domain", r"negative"),
    Bug("inputs_cached_by_id", "correct/student",
        (("    x, y = np.array(x, dtype=cfg.dtype), np.array(y, dtype=cfg.dtype)\n",
          "    key = (id(x), id(y), cfg.dtype)  # converted once per array\n"
          "    if key not in CONVERTED:\n"
          "        CONVERTED[key] = np.array(x, dtype=cfg.dtype), np.array(y, dtype=cfg.dtype)\n"
          "    x, y = CONVERTED[key]\n"),
         ("TAGS = (\"nn\", \"numpy\")\n", "TAGS = (\"nn\", \"numpy\")\nCONVERTED = {}\n")),
        "test_hygiene", r"refilled with other values .* follows the arrays' identity"),
    Bug("params_alias_reused_buffers", "fast_numpy",
        (("    w1, w2 = p[\"w1\"], p[\"w2\"]\n",
          "    w1 = BUFFERS.setdefault((\"w1\", p[\"w1\"].shape, cfg.dtype), np.empty_like(p[\"w1\"]))\n"
          "    w2 = BUFFERS.setdefault((\"w2\", p[\"w2\"].shape, cfg.dtype), np.empty_like(p[\"w2\"]))\n"
          "    w1[...], w2[...] = p[\"w1\"], p[\"w2\"]\n"),
         ("TAGS = (\"fast\", \"numpy\")\n", "TAGS = (\"fast\", \"numpy\")\nBUFFERS = {}  # weights, reused by every call\n")),
        "test_domain", r"the result of call \d changed after call \d .*params"),
    Bug("depth_capped", "nn_dynamic",
        (("        for _ in range(depth):\n", "        for _ in range(min(depth, 4)):  # the tutorial's depths stay below 4\n"),),
        "test_gradients", r"depth 5\).*the depth is capped at 4", select="at_depth"),
    Bug("depths_ignore_cfg", "nn_dynamic",
        (("import torch\n", "import random\n\nimport torch\n"),
         ("depths = draw_depths(cfg)", "depths = [random.randint(0, 3) for _ in range(cfg.steps)]")),
        "test_contract", r"depths"),
    Bug("depths_ignore_max_depth", "nn_dynamic",
        (("depths = draw_depths(cfg)",
          "depths = np.random.default_rng(cfg.seed).integers(0, 4, cfg.steps) if cfg.depths is None "
          "else np.array(cfg.depths)"),
         ("import torch\n", "import numpy as np\nimport torch\n")),
        "test_contract", r"drawn depths should be \d+ integers in 0..max_depth"),
    Bug("depths_not_uniform", "nn_dynamic",
        (("depths = draw_depths(cfg)",
          "depths = np.minimum(np.random.default_rng(cfg.seed).integers(0, cfg.max_depth + 2, cfg.steps), "
          "cfg.max_depth) if cfg.depths is None else np.array(cfg.depths)"),
         ("import torch\n", "import numpy as np\nimport torch\n")),
        "test_contract", r"drawn depths are not uniform"),
    Bug("depths_cycle", "nn_dynamic",
        (("depths = draw_depths(cfg)",
          "depths = (np.arange(cfg.steps) + cfg.seed) % (cfg.max_depth + 1) if cfg.depths is None "
          "else np.array(cfg.depths)"),
         ("import torch\n", "import numpy as np\nimport torch\n")),
        "test_contract", r"consecutive drawn depths are not independent"),
    Bug("unseeded_random_init", "numpy_manual",
        (("p = start(cfg, shapes)", "p = start(cfg.replace(seed=int(np.random.default_rng().integers(2**31))), shapes)"),),
        "test_contract", r"the same cfg.seed drew different initial parameters"),
    Bug("losses_kept_as_tensors", "correct/tutorial_nn",
        (("        losses.append(loss.item())\n", "        losses.append(loss)\n"),
         ("    return Result(losses=np.array(losses),", "    return Result(losses=losses,")),
        "test_contract", r"train returned losses as list, which NumPy cannot read .*tensor.detach\(\)"),
    Bug("exits_instead_of_refusing", "correct/student",
        (("raise NotImplementedError(\"only model, bias, loss, optimizer = two_layer, True, mean, sgd\")",
          "sys.exit(\"only model, bias, loss, optimizer = two_layer, True, mean, sgd\")"),
         ("import numpy as np\n", "import sys\n\nimport numpy as np\n")),
        "test_contract", r"train called sys.exit\('only model.*raise an exception instead"),
    Bug("refuses_without_naming", "correct/student",
        (("raise NotImplementedError(\"only model, bias, loss, optimizer = two_layer, True, mean, sgd\")",
          "raise NotImplementedError(\"not supported\")"),),
        "test_contract", r"a refusal should raise NotImplementedError naming the field"),
    # --- bad input
    Bug("no_input_validation", "numpy_manual",
        (("shapes = check(x, y, cfg)", "shapes = {'w1': (x.shape[-1], cfg.hidden), 'w2': (cfg.hidden, y.shape[-1])}"),),
        "test_bad_input", r"x holding nan: no error raised"),
    Bug("negative_depth_unchecked", "correct/keras_layers",
        (("any(not 0 <= int(d) <= cfg.max_depth for d in cfg.depths)", "any(int(d) > cfg.max_depth for d in cfg.depths)"),),
        "test_bad_input", r"depths=\(0, -1, 1\) .*no error raised", select="depths"),
    Bug("raises_when_the_loss_overflows", "numpy_manual",
        (("        losses[t] = loss\n", "        losses[t] = loss\n        if not np.isfinite(loss):\n"
          "            raise FloatingPointError(f\"the loss diverged at step {t}: lower the learning rate\")\n"),),
        "test_contract", r"made train raise FloatingPointError .* any positive finite lr is valid", select="diverging"),
    Bug("stops_when_the_loss_overflows", "correct/student",
        (("        out[\"losses\"].append(float(np.mean(e * e)))\n",
          "        out[\"losses\"].append(float(np.mean(e * e)))\n        if not np.isfinite(out[\"losses\"][-1]):\n"
          "            break  # diverged: no use going on\n"),),
        "test_contract", r"does it stop early when the loss is no longer finite", select="diverging"),
    Bug("inf_in_init_accepted", "correct/student",
        (("            if not np.isfinite(cfg.init[k]).all():", "            if np.isnan(cfg.init[k]).any():"),),
        "test_bad_input", r"cfg.init\['\w+'\] holding \+inf: no error raised", select="non_finite"),
    Bug("only_positive_inf_refused", "correct/student",
        (("        if not np.isfinite(a).all():\n            raise ValueError(f\"{name} holds NaN or Inf\")",
          "        if np.isnan(a).any() or (a == np.inf).any():\n            raise ValueError(f\"{name} holds NaN or Inf\")"),),
        "test_bad_input", r"x holding -inf: no error raised", select="non_finite"),
    # --- the forms numbers come in (domain family; its fixed examples hold every form)
    Bug("numpy_lr_refused", "correct/student",
        (("isinstance(cfg.lr, (int, float, np.number))", "isinstance(cfg.lr, (int, float))"),),
        "test_domain", r"cfg.lr is np.float32\(.*as the contract allows .*runs: accept every form"),
    Bug("int_lr_refused", "correct/student",
        (("isinstance(cfg.lr, (int, float, np.number))", "isinstance(cfg.lr, (float, np.floating))"),),
        "test_domain", r"cfg.lr is 1, as the contract allows"),
    Bug("numpy_steps_refused", "correct/student",
        (("not isinstance(cfg.steps, (int, np.integer))", "not isinstance(cfg.steps, int)"),),
        "test_domain", r"cfg.steps is np.int(64|32)\(\d+\), as the contract allows"),
    Bug("depths_array_refused", "correct/jax_scan",
        (("    if cfg.model == \"dynamic\" and cfg.depths is not None:\n        d = np.asarray(cfg.depths)",
          "    if cfg.model == \"dynamic\" and cfg.depths:\n        d = np.asarray(cfg.depths)"),),
        "test_domain", r"cfg.depths is a \w+ array, as the contract allows"),
    Bug("numpy_seed_refused", "correct/autograd_plugin",
        (("manual_seed(int(cfg.seed))", "manual_seed(cfg.seed)"),),
        "test_domain", r"cfg.seed is np.int(64|32)\(\d+\), as the contract allows"),
    Bug("adam_lr_passed_as_given", "nn_optim", (("lr=float(cfg.lr)", "lr=cfg.lr"),),
        "test_domain", r"loss diverged from the reference .*update differs"),
    Bug("float64_lr_promotes_float32_params", "correct/einsum_numpy",
        (("    lr = float(cfg.lr)  # a NumPy float64 lr would turn a float32 run's parameters into float64\n",
          "    lr = cfg.lr\n"),),
        "test_domain", r"params\['\w+'\] has dtype float64, but should be float32"),
    # --- a run that diverges, reported as it happened (contract family)
    Bug("overflow_masked", "correct/student",
        (("    out[\"losses\"] = np.array(out[\"losses\"])", "    out[\"losses\"] = np.nan_to_num(np.array(out[\"losses\"]))"),),
        "test_contract", MASKED, select="diverging"),
    Bug("losses_clipped", "numpy_manual",
        (("        losses[t] = loss\n", "        losses[t] = min(loss, 1e30)  # keep the plot readable\n"),),
        "test_contract", MASKED, select="diverging"),
    Bug("last_good_loss_repeated", "correct/student",
        (("        out[\"losses\"].append(float(np.mean(e * e)))\n",
          "        loss = float(np.mean(e * e))\n"
          "        out[\"losses\"].append(loss if np.isfinite(loss) or not out[\"losses\"] else out[\"losses\"][-1])\n"),),
        "test_contract", r"the run overflows at step \d+.* but its losses are finite", select="diverging"),
    Bug("rows_unchecked", "correct/student",
        (("    if len(x) != len(y):\n        raise ValueError(\"x and y have different numbers of rows\")\n", ""),),
        "test_bad_input", r"mismatched_N: the error should name the problem .*could not be broadcast"),
    Bug("init_extra_key_ignored", "correct/student",
        (("        if set(cfg.init) != set(shapes):\n"
          "            raise ValueError(f\"init has keys {sorted(cfg.init)}, expected {sorted(shapes)}\")\n", ""),),
        "test_bad_input", r"init_extra_key: no error raised"),
    Bug("nan_refused_as_a_type_error", "correct/student",
        (('            raise ValueError(f"{name} holds NaN or Inf")', '            raise TypeError(f"{name} holds NaN or Inf")'),),
        "test_bad_input", r"x holding nan: raised TypeError .*a bad value raises ValueError"),
    Bug("non_array_refused_as_a_value_error", "correct/student",
        (('            raise TypeError(f"{name} must be a numpy array, not {type(a).__name__}")',
          '            raise ValueError(f"{name} must be a numpy array, not {type(a).__name__}")'),),
        "test_bad_input", r"x_not_an_array: raised ValueError .*a bad type raises TypeError"),
    Bug("state_left_changed_by_a_refusal", "correct/student",
        (("    shapes = _checked(x, y, cfg)\n",
          "    old = np.seterr(over=\"ignore\")  # put back at the end, but not when _checked raises\n"
          "    shapes = _checked(x, y, cfg)\n"),
         ("    return out\n", "    np.seterr(**old)\n    return out\n")),
        "test_bad_input", r"a call during test_bad_input_is_refused\[.*\] left process-wide state changed .*numpy error handling"),
    # --- hygiene: a result that follows a caller's process defaults
    Bug("adam_moments_in_torch_default_dtype", "correct/torch_func",
        (("    m = {k: torch.zeros_like(v) for k, v in params.items()}\n    v2 = {k: torch.zeros_like(v) for k, v in params.items()}\n",
          "    m = {k: torch.zeros(v.shape) for k, v in params.items()}  # torch's default dtype\n"
          "    v2 = {k: torch.zeros(v.shape) for k, v in params.items()}\n"),),
        "test_hygiene", r"with torch's default dtype .* set to its other value by the caller, the same call raised",
        select="process_defaults"),
    Bug("jax_float32_run_follows_x64", "correct/jax_style",
        (("    with jax.enable_x64(cfg.dtype == \"float64\"):\n",
          "    with (jax.enable_x64(True) if cfg.dtype == \"float64\" else contextlib.nullcontext()):\n"),
         ("        m = {k: jnp.zeros_like(v) for k, v in params.items()}\n        v = {k: jnp.zeros_like(a) for k, a in params.items()}\n",
          "        m = {k: jnp.zeros(v.shape) for k, v in params.items()}  # JAX's default dtype\n"
          "        v = {k: jnp.zeros(a.shape) for k, a in params.items()}\n"),
         ("import functools\n", "import contextlib\nimport functools\n")),
        "test_hygiene", r"with JAX's x64 mode .* set to its other value by the caller, the same call \(from the same init\) "
                        r"gave a different", select="process_defaults"),
    # --- hygiene: process-wide state, by the call
    Bug("seeds_numpy_globally", "numpy_manual", (("p = start(cfg, shapes)", "np.random.seed(cfg.seed)\n    p = start(cfg, shapes)"),),
        "test_hygiene", r"seeds the numpy global generator"),
    Bug("seeds_torch_globally", "nn_sequential", (("    model = nn.Sequential(", "    torch.manual_seed(cfg.seed)\n    model = nn.Sequential("),),
        "test_hygiene", r"seeds the torch global generator"),
    Bug("reseeds_numpy_from_the_os", "numpy_manual", (("p = start(cfg, shapes)", "np.random.seed()  # fresh randomness\n    p = start(cfg, shapes)"),),
        "test_hygiene", r"reseeds the numpy global generator .* from the OS", select="global_generators"),
    Bug("reseeds_torch_from_the_os", "correct/tutorial_nn", (("    dtype = getattr(torch, cfg.dtype)\n", "    torch.seed()\n    dtype = getattr(torch, cfg.dtype)\n"),),
        "test_hygiene", r"reseeds the torch global generator from the OS", select="global_generators"),
    Bug("seeds_tensorflow_globally", "tf_graph", (("    graph = tf.Graph()\n", "    tf.random.set_seed(cfg.seed)\n    graph = tf.Graph()\n"),),
        "test_hygiene", r"tensorflow global seed"),
    Bug("init_from_global_generator", "correct/tutorial_nn",
        (("    p = start(cfg, shapes, \"linear\")\n    with torch.no_grad():", "    p = canonical_start(layers, cfg)\n    with torch.no_grad():"),
         ("class DynamicNet(nn.Module):",
          "def canonical_start(layers, cfg):\n    out = {}\n    for suffix, layer in layers.items():\n"
          "        out[\"w\" + suffix] = layer.weight.detach().numpy().T.astype(cfg.dtype)\n"
          "        if cfg.bias:\n            out[\"b\" + suffix] = layer.bias.detach().numpy().astype(cfg.dtype)\n"
          "    return out\n\n\nclass DynamicNet(nn.Module):")),
        "test_hygiene", r"when the global random generators were in another state before the call"),
    Bug("sets_torch_default_dtype", "torch_tensors", first_statement("torch_tensors", "torch.set_default_dtype(getattr(torch, cfg.dtype))"),
        "test_hygiene", r"the call changed process-wide state .*torch default dtype"),
    Bug("sets_matmul_precision", "torch_autograd", first_statement("torch_autograd", "torch.set_float32_matmul_precision('medium')"),
        "test_hygiene", r"torch float32 matmul precision: 'highest' -> 'medium'"),
    Bug("sets_flush_denormal", "torch_tensors", first_statement("torch_tensors", "torch.set_flush_denormal(True)"),
        "test_hygiene", r"flush denormals to zero"),
    Bug("sets_cudnn_benchmark", "torch_autograd", first_statement("torch_autograd", "torch.backends.cudnn.benchmark = True"),
        "test_hygiene", r"torch.backends.cudnn.benchmark: False -> True"),
    Bug("sets_fp16_reduction_off", "torch_autograd",
        first_statement("torch_autograd", "torch.backends.cuda.matmul.allow_fp16_reduced_precision_reduction = False"),
        "test_hygiene", r"torch.backends.cuda.matmul.allow_fp16_reduced_precision_reduction: True -> False"),
    Bug("sets_anomaly_detection", "torch_autograd", first_statement("torch_autograd", "torch.autograd.set_detect_anomaly(True)"),
        "test_hygiene", r"torch anomaly detection"),
    Bug("sets_torch_print_options", "torch_tensors", first_statement("torch_tensors", "torch.set_printoptions(precision=10)"),
        "test_hygiene", r"torch print options"),
    Bug("sets_one_thread", "torch_autograd", first_statement("torch_autograd", "torch.set_num_threads(1)"),
        "test_hygiene", r"torch intra-op threads: \d+ -> 1", isolate=True,
        select="call_changes"),  # seen where the run has threads to lose
    Bug("runs_functions_eagerly", "fast_tf_function",
        (("    import tensorflow as tf\n\n    p = start", "    import tensorflow as tf\n\n    tf.config.run_functions_eagerly(True)\n    p = start"),),
        "test_hygiene", r"tensorflow run functions eagerly: False -> True"),
    Bug("logs_device_placement", "fast_tf_function",
        (("    import tensorflow as tf\n\n    p = start",
          "    import tensorflow as tf\n\n    tf.debugging.set_log_device_placement(True)\n    p = start"),),
        "test_hygiene", r"tensorflow log device placement: False -> True", select="call_changes"),
    Bug("jit_optimizer_off", "torch_tensors", first_statement("torch_tensors", "torch._C._set_graph_executor_optimize(False)"),
        "test_hygiene", r"torch.jit graph executor optimize: True -> False", select="call_changes"),
    Bug("autocast_left_on", "torch_autograd", first_statement("torch_autograd", "torch.set_autocast_enabled('cpu', True)"),
        "test_hygiene", r"torch autocast \(enabled, dtype\) on cpu and cuda: \(\(False, torch.bfloat16\)"),
    Bug("check_numerics_left_on", "correct/tf2_eager",
        (("    import tensorflow as tf\n", "    import tensorflow as tf\n\n    tf.debugging.enable_check_numerics()\n"),),
        "test_hygiene", r"tensorflow op callbacks \(check numerics, debug dumps\): \(\) -> \(CheckNumericsCallback",
        select="call_changes"),
    Bug("sets_keras_floatx", "correct/tf2_eager",
        (("    import tensorflow as tf\n", "    import tensorflow as tf\n\n    tf.keras.backend.set_floatx(cfg.dtype)\n"),),
        "test_hygiene", r"keras floatx"),
    Bug("hides_gpus", "numpy_manual", first_statement("numpy_manual", "import os; os.environ['CUDA_VISIBLE_DEVICES'] = ''"),
        "test_hygiene", r"environment variable CUDA_VISIBLE_DEVICES: unset -> ''"),
    Bug("sets_cublas_workspace", "torch_autograd",
        first_statement("torch_autograd", "import os; os.environ['CUBLAS_WORKSPACE_CONFIG'] = ':4096:8'"),
        "test_hygiene", r"environment variable CUBLAS_WORKSPACE_CONFIG"),
    Bug("silences_warnings", "numpy_manual", first_statement("numpy_manual", "import warnings; warnings.simplefilter('ignore')"),
        "test_hygiene", r"warning filters: added \[\('ignore'"),
    Bug("configures_logging", "numpy_manual", first_statement("numpy_manual", "import logging; logging.basicConfig(level=logging.INFO)"),
        "test_hygiene", r"logging: logger root: level WARNING, handlers \[\] -> level INFO, handlers \[StreamHandler\]"),
    Bug("logger_with_handler", "numpy_manual",
        first_statement("numpy_manual", "import logging; logging.getLogger('numpy_manual').addHandler(logging.StreamHandler())"),
        "test_hygiene", r"logging: logger numpy_manual: .*-> level NOTSET, handlers \[StreamHandler"),
    Bug("raises_recursion_limit", "numpy_manual", first_statement("numpy_manual", "import sys; sys.setrecursionlimit(50000)"),
        "test_hygiene", r"python recursion limit"),
    Bug("eager_off_globally", "tf_graph",
        (("    graph = tf.Graph()\n", "    tf.compat.v1.disable_eager_execution()\n    graph = tf.Graph()\n"),),
        "test_hygiene", r"tensorflow eager mode", isolate=True, select="call_changes"),
    # --- hygiene: process-wide state, by importing the module
    Bug("x64_at_import", "correct/jax_style",
        (("import numpy as np\n", "import jax\nimport numpy as np\n\njax.config.update(\"jax_enable_x64\", True)\n"),),
        "test_hygiene", r"importing .*x64_at_import.py changed process-wide state: jax config jax_enable_x64: False -> True",
        select="import_changes"),
    Bug("numpy_behavior_at_import", "correct/tf2_eager",
        (("import numpy as np\n", "import numpy as np\nimport tensorflow as tf\n\ntf.experimental.numpy.experimental_enable_numpy_behavior()\n"),),
        "test_hygiene", r"importing .*numpy_behavior_at_import.py changed process-wide state: tensorflow numpy behavior",
        select="import_changes"),
    Bug("print_options_at_import", "numpy_manual",
        (("import numpy as np\n", "import numpy as np\n\nnp.set_printoptions(precision=3, suppress=True)\n"),),
        "test_hygiene", r"importing .* changed process-wide state: numpy print options"),
    Bug("keras_logging_off_at_import", "correct/keras_layers",
        (("import numpy as np\n", "import keras\nimport numpy as np\n\nkeras.config.disable_interactive_logging()  # no progress bars\n"),),
        "test_hygiene", r"importing .* changed process-wide state: keras interactive logging",
        select="import_changes"),
    Bug("threads_at_import", "torch_tensors",
        (("import torch\n", "import torch\n\ntorch.set_num_threads(1)\n"),),
        "test_hygiene", r"importing .* changed process-wide state: .*torch intra-op threads", isolate=True,
        select="import_changes"),
    # --- faults: what a module does to its own process (CONTRACT.md, "Faults are failures"); each is also
    # run beside a correct module, which must still conform (meta_tests/test_faults.py)
    Bug("exits_0_in_train", "correct/student", long_call("os._exit(0)  # done early", "import os\n"),
        "test_learning", r"EXIT: the process exited with status 0 during .*train\(x, y, Config\(", fault=True),
    Bug("exits_0_at_import", "correct/student", (("import copy\n", "import copy\nimport os\n\nos._exit(0)\n"),),
        "test_contract", r"EXIT: importing .*: the process exited with status 0", fault=True),
    Bug("segfault_in_train", "correct/student",
        long_call("ctypes.string_at(0)  # a C extension reading a null pointer", "import ctypes\n"),
        "test_learning", r"CRASH: the process died of SIGSEGV during .*train\(x, y, Config\(", fault=True),
    Bug("hangs_in_train", "correct/student",
        long_call("threading.Event().wait()  # for a worker that never comes", "import threading\n"),
        "test_learning", r"TIMEOUT: no answer within the time limit of 10 s", args=("--call-timeout=10",),
        fault=True),
    Bug("keyboard_interrupt_in_train", "correct/student",
        long_call("raise KeyboardInterrupt  # a learner's way out of a long loop", ""),
        "test_learning", r"INTERRUPT: train raised KeyboardInterrupt", fault=True),
    Bug("memory_exhausted_in_train", "correct/student", long_call("np.ones((400, 1000, 1000))  # 3.2 GB", ""),
        "test_learning", r"CRASH: killed during .*over the limit of 1 GiB", args=("--memory-limit=1",), fault=True),
    Bug("thread_left_running", "correct/student",
        long_call("threading.Thread(target=_heartbeat, name='heartbeat', daemon=True).start()",
                  "import threading\nimport time\n\n\ndef _heartbeat():\n    while True:\n        time.sleep(0.5)\n", 1),
        "test_hygiene", r"threads left running: heartbeat \(daemon\)", select="process_state", fault=True),
    Bug("child_process_left_running", "correct/student",
        long_call("subprocess.Popen(['sleep', '20'])  # a helper it never waits for", "import subprocess\n", 1),
        "test_hygiene", r"child processes left running: pid \d+ \(sleep 20\)", select="process_state", fault=True),
    Bug("reports_patched_and_gradient_ascent", "numpy_manual",
        (("import numpy as np\n", "import numpy as np\nimport _pytest.reports\n\n"
          "_init = _pytest.reports.TestReport.__init__\n\n\n"
          "def _passed(self, *args, **kwargs):  # every report reads 'passed'\n"
          "    _init(self, *args, **kwargs)\n    self.outcome = 'passed'\n\n\n"
          "_pytest.reports.TestReport.__init__ = _passed\n"),
         ("        w1 -= learning_rate * grad_w1\n", "        w1 += learning_rate * grad_w1\n"),
         ("        w2 -= learning_rate * grad_w2\n", "        w2 += learning_rate * grad_w2\n")),
        "test_trajectory", r"loss diverged from the reference .* the update differs", fault=True),
    Bug("seeded_by_hash_of_name", "correct/student",
        (("        rng = np.random.default_rng(cfg.seed)\n", ""),
         ("p = {k: (rng.uniform(-1, 1, s)", "p = {k: (np.random.default_rng(abs(hash(k)) + cfg.seed).uniform(-1, 1, s)")),
        "test_hygiene", r"different 'init' in a fresh process .* depend on \(x, y, cfg\) alone", select="fresh_process"),
    Bug("chdir_in_train", "correct/student", long_call("os.chdir(tempfile.gettempdir())  # to save a plot there",
                                                         "import os\nimport tempfile\n", 1),
        "test_hygiene", r"current directory: '.*' -> '/tmp'", select="process_state"),
    Bug("signal_handler_at_import", "correct/student",
        (("import copy\n", "import copy\nimport signal\n\nsignal.signal(signal.SIGTERM, lambda *_: None)  # never stop\n"),),
        "test_hygiene", r"importing .* changed process-wide state: signal handlers", select="import_changes"),
    Bug("numpy_patched_at_import", "correct/student",
        (("import numpy as np\n", "import numpy as np\n\nnp.allclose = lambda *args, **kwargs: True  # every check passes\n"),),
        "test_hygiene", r"importing .* changed process-wide state: module attributes numpy.allclose",
        select="import_changes"),
]


def write(directory) -> list:
    """Write every broken module into directory; return their paths."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for bug in BUGS:
        path = directory / f"{bug.id}.py"
        path.write_text(f"# BROKEN on purpose ({bug.family} must catch it): {bug.id}\n" + bug.text())
        paths.append(path)
    return paths


if __name__ == "__main__":
    for p in write(sys.argv[1] if len(sys.argv) > 1 else "broken"):
        print(p)
