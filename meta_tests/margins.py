"""Measure the envelope's margins (conformance/core/envelope.py), both ways.

    .venv/bin/python -m meta_tests.margins [EXAMPLES] [MODULE ...]
    .venv/bin/python -m meta_tests.margins --bugs

The first draws EXAMPLES domain examples (conformance/core/strategies.py, not derandomized) per
implementation (the bundled ones and the correct modules in meta_tests/correct/, or those named)
and prints, per implementation and kind (losses, step-0 grads, final params), the largest
error / spread over every call: the margin correct code needs. MARGIN must stay well above it.

--bugs runs each catalogued bug that the oracle comparison catches (trajectory and domain
families) on its cell in both precisions and on the domain family's two fixed examples, and
prints by how many times its largest disagreement exceeds the bound: how far from the bound
real bugs are.
"""
import sys
from collections import defaultdict

import numpy as np
from hypothesis import HealthCheck, given, settings

from conformance import state
from conformance.loading import bundled_specs, is_implementation, load
from conformance.core import strategies
from conformance.core.calls import Unstable, build, with_lr
from conformance.core.compare import reference_for
from conformance.core.envelope import exactness, worst_ratio

CORRECT = ["meta_tests/correct/einsum_numpy.py", "meta_tests/correct/tutorial_nn.py",
           "meta_tests/correct/torch_func.py", "meta_tests/correct/jax_style.py",
           "meta_tests/correct/tf2_eager.py", "meta_tests/correct/student.py"]


def measure(impl, examples: int) -> dict:
    worst = defaultdict(lambda: (0.0, None))  # exactness: the share of the noisy final entries within an ulp
    calls = [0]

    @settings(max_examples=examples, deadline=None, database=None, derandomize=False,
              suppress_health_check=list(HealthCheck), phases=["generate"])
    @given(strategies.examples())
    def one(example):
        for call in example.calls:
            x, y, cfg, _ = build(impl, example, call, impl.claims())
            cfg, _ = with_lr(impl, x, y, cfg, call.lr_fraction)
            got = impl.run(x, y, cfg)
            ref = reference_for(got, x, y, cfg)
            losses = ref.run["losses"]
            if cfg.steps and not (np.isfinite(losses).all() and losses.max() <= 1e2 * max(losses[0], 1e-300)):
                continue
            calls[0] += 1
            close = exactness(got, ref)
            if close is not None and close[0] / close[1] >= worst["exactness"][0]:
                worst["exactness"] = (close[0] / close[1], f"{cfg.dtype} {cfg.optimizer} steps={cfg.steps} "
                                      f"shape={example.shape} {close[0]} of {close[1]} entries within an ulp "
                                      f"replay={example.to_json()}")
            for kind, r in worst_ratio(got, ref).items():
                if r > worst[kind][0]:
                    worst[kind] = (r, f"{cfg.dtype} {cfg.optimizer} steps={cfg.steps} shape={example.shape} "
                                      f"horizon={ref.horizon} replay={example.to_json()}")

    one()
    return dict(worst), calls[0]


def bug_margins():
    import tempfile
    from pathlib import Path

    from meta_tests.catalogue import BUGS
    from conformance.core.envelope import findings
    from conformance.core.start import setup

    state.take_baseline()
    folder = Path(tempfile.mkdtemp())
    for bug in BUGS:
        if bug.family not in ("test_trajectory", "test_domain"):
            continue
        path = folder / f"{bug.id}.py"
        path.write_text(bug.text())
        impl = load(str(path))
        worst = []
        runs = [setup(impl, 0, dtype) for dtype in ("float64", "float32")]
        for example in (strategies.LONG_RUN, strategies.AWKWARD_INPUTS, strategies.REPEATED):
            for call in example.calls:
                x, y, cfg, _ = build(impl, example, call, impl.claims())
                try:
                    runs.append((x, y, with_lr(impl, x, y, cfg, call.lr_fraction)[0]))
                except Exception:  # noqa: BLE001 - a call the module refuses is not measured
                    pass
        for x, y, cfg in runs:
            try:
                got = impl.run(x, y, cfg)
                ref = reference_for(got, x, y, cfg)
            except Exception as e:  # noqa: BLE001 - a correct module that raises is a finding
                worst.append((np.inf, f"raises {type(e).__name__}"))
                continue
            found = findings(got, ref)
            if found:
                f = max(found, key=lambda f: f.ratio)
                worst.append((f.ratio, f"{cfg.dtype} {f.kind} {f.name or ''} step {f.step}"))
        best = max(worst, default=(0.0, "not caught here"))
        print(f"{bug.id:32s} {best[0]:10.3g} x the bound  ({best[1]})", flush=True)


def main(argv):
    if argv[:1] == ["--bugs"]:
        return bug_margins()
    examples = int(argv[0]) if argv else 20
    specs = argv[1:] or [s for s in bundled_specs() if is_implementation(s)] + CORRECT
    state.take_baseline()
    for spec in specs:
        try:
            impl = load(spec)
            worst, n = measure(impl, examples)
        except Unstable:
            continue
        print(f"{impl.name:20s} calls={n:4d} " + "  ".join(f"{k}={v[0]:8.2f}" for k, v in sorted(worst.items())))
        for k, v in sorted(worst.items()):
            print(f"    {k}: {v[1]}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
