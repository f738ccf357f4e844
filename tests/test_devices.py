"""Devices: on every GPU the implementation's framework sees, the run of its tutorial cell (float32
and float64) matches the oracle within the same derived bounds as on the CPU (conformance/core/envelope.py).

Runs only where such a GPU exists; elsewhere the plugin skips it, naming why for the framework
the implementation uses, and deselects it for NumPy-only implementations. TensorFloat-32 (10-bit
mantissas in float32 matmuls) would break float32 agreement: torch keeps it off for matmuls by
default, and an implementation that turns it on shows here as a float32 mismatch.
"""
import pytest

from conformance.core.compare import assert_matches_reference
from conformance.core.start import setup

pytestmark = pytest.mark.cuda


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_gpu_matches_reference(impl, dtype):
    x, y, cfg = setup(impl, 0, dtype)
    for device in impl.devices()[0]:
        on = cfg.replace(device=device)
        try:
            got = impl.run(x, y, on)
        except (ValueError, NotImplementedError) as e:
            if "device" in str(e):
                pytest.skip(f"{impl.name} runs on the CPU only ({e})")
            raise
        assert_matches_reference(impl, got, x, y, on, context=f"on {device}")
