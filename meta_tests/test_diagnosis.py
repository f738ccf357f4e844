"""The diagnosis's own checks: its variant oracle without a bug is the oracle; every hypothesis
changes the numbers (else it could never be told apart); and correct code is never given a bug name."""
import numpy as np
import pytest

from conformance import state
from conformance.data import make_data
from conformance.impl import STRUCTURES, structure_id
from conformance.loading import load
from implementations.contract import Config
from conformance.core import diagnosis, oracle, variants
from conformance.core.compare import reference_for
from conformance.core.start import setup, small_sizes

pytestmark = pytest.mark.selftest


def call(structure, steps=6):
    cfg = Config(**structure, **small_sizes(), lr=1e-3, steps=steps, dtype="float64", seed=1, max_depth=2,
                 depths=(0, 2, 1, 2, 0, 1)[:steps] if structure["model"] == "dynamic" else None)
    x, y = make_data(cfg, 3)
    rng = np.random.default_rng(2)
    shapes = {k: v.shape for k, v in oracle.train(x, y, cfg.replace(steps=0, depths=() if cfg.depths else None)).init.items()}
    return x, y, cfg.replace(init={k: rng.standard_normal(s) * 0.5 for k, s in shapes.items()})


@pytest.mark.parametrize("structure", STRUCTURES, ids=structure_id)
def test_the_variant_without_a_bug_is_the_oracle(structure):
    x, y, cfg = call(structure)
    want = oracle.train(x, y, cfg)
    got = variants.variant(x, y, cfg, cfg.init, cfg.depths, cfg.steps, {})
    assert np.allclose(got["losses"], want.losses, rtol=1e-13, atol=0)
    for k in want.params:
        assert np.allclose(got["params"][k], want.params[k], rtol=1e-12, atol=1e-15), k
        assert np.allclose(got["grads"][k], want.grads[k], rtol=1e-12, atol=1e-15), k


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
@np.errstate(all="ignore")
def test_every_hypothesis_changes_the_numbers_somewhere(optimizer):
    """Some bugs only show in some settings (AMSGrad once the second moment falls, eps against tiny
    gradients, clipping against large ones): across the structures and three scales of start,
    each hypothesis must give other numbers than the oracle's at least once."""
    seen, differs = set(), set()
    for structure in [s for s in STRUCTURES if s["optimizer"] == optimizer]:
        for scale in (0.5, 1e-4, 3.0):
            x, y, cfg = call(structure, steps=6)
            cfg = cfg.replace(batch=cfg.batch + 1, steps=30, depths=(cfg.depths * 5) if cfg.depths else None,
                              init={k: v * scale / 0.5 for k, v in cfg.init.items()})
            plain = variants.variant(x, y, cfg, cfg.init, cfg.depths, cfg.steps, {})
            for hyp in diagnosis.candidates(cfg, x, y, cell_lr=1e-2) + diagnosis.schedule_candidates(3):
                seen.add(hyp.name)
                run = variants.variant(x, y, cfg, cfg.init, cfg.depths, cfg.steps, hyp.options)
                same = np.allclose(np.nan_to_num(run["losses"]), plain["losses"], rtol=1e-9) and all(
                    np.allclose(run[kind][k], plain[kind][k], rtol=1e-9) for kind in ("grads", "params")
                    for k in plain[kind])
                if not same:
                    differs.add(hyp.name)
    assert seen - differs == set(), f"never told apart from the oracle: {sorted(seen - differs)}"


@pytest.mark.parametrize("module", ["meta_tests/correct/einsum_numpy.py", "meta_tests/correct/tutorial_nn.py",
                                    "implementations/fast_jax.py", "implementations/tf_graph.py"])
def test_correct_code_is_given_no_bug_name(module):
    """Asked directly (as if a check had failed), the diagnosis names nothing for correct runs:
    the oracle reproduces them, so no hypothesis explains them ten times better."""
    if not state.BASELINE:
        state.take_baseline()
    impl = load(module)
    for dtype in ("float64", "float32"):
        x, y, cfg = setup(impl, 0, dtype, steps=40, **small_sizes())
        got = impl.run(x, y, cfg)
        ref = reference_for(got, x, y, cfg)
        for step in (0, 5, 20):
            assert diagnosis.diagnose(got, ref, x, y, step, cell_lr=impl.config.lr) == "", (module, dtype, step)


def test_a_misspelt_option_fails_where_the_hypothesis_is_made():
    """An option the variant oracle does not know would silently mean "no bug": it is a TypeError."""
    with pytest.raises(TypeError, match="lr_sacle"):
        diagnosis.Hypothesis("the learning rate is halved", "use cfg.lr", {"lr_sacle": 0.5})
    assert diagnosis.Hypothesis("a", "b", {"lr_scale": 0.5}).options == variants.Variant(lr_scale=0.5)
