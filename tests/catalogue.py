"""The catalogue of broken implementations: realistic bugs, each a small edit of a correct module.

Every entry names the bundled module it breaks, the edit (text that must occur exactly once,
and its replacement), the check family that must catch it, and a pattern its failure message
must match. tests/test_catalogue.py writes each broken module out and runs the whole suite on
it with --impl. Write one out to look at it: `python -m tests.catalogue DIR`.
"""
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Bug:
    id: str
    source: str  # a module in implementations/
    edits: tuple  # ((old, new), ...): old occurs exactly once in the source
    family: str  # the test module that must fail
    message: str  # a regex the failure message must match
    isolate: bool = False  # the bug leaves process-wide damage: run it in a subprocess

    def text(self) -> str:
        text = (ROOT / "implementations" / f"{self.source}.py").read_text()
        for old, new in self.edits:
            if text.count(old) != 1:
                raise AssertionError(f"{self.id}: {old!r} occurs {text.count(old)} times in {self.source}.py")
            text = text.replace(old, new)
        return text


BUGS = [
    # gradients
    Bug("relu_mask_inverted", "numpy_manual", (("grad_h[h < 0] = 0", "grad_h[h > 0] = 0"),),
        "test_gradients", r"w1 grad max error"),
    Bug("missing_factor_two", "numpy_manual", (("grad_y_pred = 2.0 * (y_pred - y)", "grad_y_pred = y_pred - y"),),
        "test_gradients", r"w\d grad max error"),
    Bug("grad_from_preactivation", "numpy_manual", (("grad_w2 = h_relu.T.dot", "grad_w2 = h.T.dot"),),
        "test_gradients", r"w2 grad max error"),
    Bug("backward_ignores_saved_input", "torch_function", (("grad_input[input < 0] = 0", "pass"),),
        "test_gradients", r"w1 grad max error"),
    Bug("shared_layer_detached", "nn_dynamic",
        (("self.middle_linear(h_relu)", "self.middle_linear(h_relu.detach())"),),
        "test_gradients", r"w_(in|mid) grad max error .*depth [23]"),
    # loss
    Bug("loss_is_mean_not_sum", "numpy_manual", (("np.square(y_pred - y).sum()", "np.square(y_pred - y).mean()"),),
        "test_trajectory", r"loss diverged from the reference at step 0"),
    Bug("loss_reported_one_step_late", "numpy_manual", (("losses[t] = loss", "losses[t - 1] = loss"),),
        "test_trajectory", r"loss diverged from the reference at step 0"),
    # optimiser
    Bug("gradient_ascent", "numpy_manual", (("w1 -= learning_rate * grad_w1", "w1 += learning_rate * grad_w1"),),
        "test_learning", r"final loss / initial loss|training diverged"),
    Bug("forgot_zero_grad", "torch_autograd", (("            w1.grad.zero_()\n            w2.grad.zero_()\n", ""),),
        "test_trajectory", r"loss diverged from the reference at step 2\b"),
    Bug("forgot_model_zero_grad", "nn_sequential", (("        model.zero_grad()\n", ""),),
        "test_trajectory", r"loss diverged from the reference at step 2\b"),
    Bug("optimizer_rebuilt_every_step", "nn_optim",
        (("        optimizer.zero_grad()\n",
          "        optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)\n        optimizer.zero_grad()\n"),),
        "test_trajectory", r"loss diverged from the reference at step 2\b"),
    # reporting
    Bug("grads_reported_at_last_step", "numpy_manual", (("        if t == 0:\n", "        if t == cfg.steps - 1:\n"),),
        "test_trajectory", r"step-0 grad relative error"),
    Bug("init_aliases_params", "numpy_manual", (("init = {k: v.copy() for k, v in p.items()}", "init = p"),),
        "test_contract", r"init\['w\d'\] differs from cfg.init"),
    # contract
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
    Bug("depths_ignore_cfg", "nn_dynamic",
        (("import torch\n", "import random\n\nimport torch\n"),
         ("depths = draw_depths(cfg)", "depths = [random.randint(0, 3) for _ in range(cfg.steps)]")),
        "test_contract", r"depths"),
    # hygiene
    Bug("seeds_numpy_globally", "numpy_manual", (("p = start(cfg, shapes)", "np.random.seed(cfg.seed)\n    p = start(cfg, shapes)"),),
        "test_hygiene", r"process-wide state: numpy global RNG"),
    Bug("updates_cfg_init_in_place", "numpy_manual",
        (("p = start(cfg, shapes)", "p = dict(cfg.init) if cfg.init is not None else start(cfg, shapes)"),),
        "test_hygiene", r"changed cfg.init\['w\d'\] in place"),
    Bug("sets_torch_default_dtype", "torch_tensors",
        (("    x, y = tensor(x, cfg), tensor(y, cfg)\n",
          "    torch.set_default_dtype(getattr(torch, cfg.dtype))\n    x, y = tensor(x, cfg), tensor(y, cfg)\n"),),
        "test_hygiene", r"process-wide state: torch default dtype", isolate=True),
    Bug("eager_off_globally", "tf_graph",
        (("    graph = tf.Graph()\n", "    tf.compat.v1.disable_eager_execution()\n    graph = tf.Graph()\n"),),
        "test_hygiene", r"process-wide state: tensorflow eager mode", isolate=True),
    Bug("unseeded_random_init", "numpy_manual",
        (("p = start(cfg, shapes)", "p = start(cfg.replace(seed=int(np.random.default_rng().integers(2**31))), shapes)"),),
        "test_contract", r"the same cfg.seed drew different initial parameters"),
    # bad input
    Bug("no_input_validation", "numpy_manual",
        (("shapes = check(x, y, cfg)", "shapes = {'w1': (x.shape[-1], cfg.hidden), 'w2': (cfg.hidden, y.shape[-1])}"),),
        "test_bad_input", r"x_with_nan: no error raised"),
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
