"""CPU/CUDA equality: each implementation that can use an accelerator, on every CUDA device
present and on the CPU, from identical data and init; float32 and float64.

Runs only where CUDA exists (conftest.py skips it otherwise, naming why). Bounds follow the
trajectory family's oracle bounds: the device run and the CPU run must each match the
oracle, and the two must match each other within the same bounds. TensorFloat-32 would
break float32 agreement (10-bit mantissas in matmuls); the check runs with torch's default,
which keeps TF32 off for matmuls, and fails if an implementation turns it on.
"""
import pytest

from tests.helpers import FLOAT32_HORIZON, ORACLE_BOUNDS, assert_losses_close, assert_params_close, cuda_devices, setup

pytestmark = pytest.mark.cuda


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_cuda_matches_cpu(impl, dtype):
    steps = impl.config.steps if dtype == "float64" else min(impl.config.steps, FLOAT32_HORIZON)
    x, y, cfg = setup(impl, 0, dtype, steps=steps)
    cpu = impl.run(x, y, cfg)
    for device in cuda_devices():
        try:
            got = impl.run(x, y, cfg.replace(device=device))
        except (ValueError, NotImplementedError) as e:
            if "device" in str(e):
                pytest.skip(f"{impl.name} runs on the CPU only ({e})")
            raise
        loss_bound, params_bound, grads_bound = ORACLE_BOUNDS[dtype, cfg.optimizer]
        on = cfg.replace(device=device)
        assert_params_close(f"step-0 grad on {device} vs cpu", got["grads"], cpu["grads"], grads_bound, impl, on)
        assert_losses_close(got["losses"], cpu["losses"], loss_bound, 1e-8, impl, on)
        assert_params_close(f"params on {device} vs cpu", got["params"], cpu["params"], params_bound, impl, on)
