"""The bundled implementations' paths that the suite's pass over them does not take on this machine.

`fast_numpy` fuses each update into a gemm of NumPy's own OpenBLAS and falls back to a product and a
subtraction where NumPy runs another BLAS; the suite's pass checks whichever path this machine takes.
"""
import numpy as np
import pytest

from conformance.data import make_data
from implementations.contract import Config

pytestmark = pytest.mark.selftest
# Measured here: the fused gemm matches the product subtracted within 1.2e-7 (one ulp) in float32 and
# 2.0e-16 in float64, relative, and 20 steps of training match exactly. The bounds allow another OpenBLAS kernel's
# order of summation (k eps: 4e-6 at k = 64 in float32); a wrong sign, beta or stride errs by O(1).
RTOL = {"float32": 1e-5, "float64": 1e-12}


@pytest.fixture
def fast_numpy():
    from implementations import fast_numpy  # here, not at import: the self-tests alone import no implementation

    return fast_numpy


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("m, k, n", [(100, 64, 1000), (100, 64, 10), (5, 3, 1), (4, 0, 2), (0, 2, 3), (3, 2, 0)])
def test_fused_update_is_the_product_subtracted(fast_numpy, dtype, m, k, n):
    fused = fast_numpy.fused_update(dtype)
    if fused is None:
        pytest.skip("NumPy does not run its own OpenBLAS here: fast_numpy takes the fallback, which the suite checks")
    rng = np.random.default_rng(0)
    a, b, w = (rng.standard_normal(s).astype(dtype) for s in ((m, k), (k, n), (m, n)))
    want = w - a @ b
    fused(w, a, b)()
    np.testing.assert_allclose(w, want, rtol=RTOL[dtype], atol=RTOL[dtype])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fallback_trains_as_the_fused_update(fast_numpy, monkeypatch, dtype):
    cfg = Config(steps=20, dtype=dtype)
    x, y = make_data(cfg, 0)
    fused = fast_numpy.train(x, y, cfg)
    monkeypatch.setattr(fast_numpy, "fused_update", lambda dtype: None)
    plain = fast_numpy.train(x, y, cfg)
    for k in ("w1", "w2"):
        np.testing.assert_allclose(plain.params[k], fused.params[k], rtol=RTOL[dtype], atol=RTOL[dtype])
    np.testing.assert_allclose(plain.losses, fused.losses, rtol=RTOL[dtype])
