"""What a call costs besides its work: python -m meta_tests.overhead [MODULE ...]

Calls each module's train 40 times in its worker (2 steps, 8x10 inputs, and at the tutorial
cell's sizes) and prints, per call, the time from the suite's impl.run to its answer and the
time inside train. docs/isolation.md has the latest figures.
"""
import sys
import time

import numpy as np

from conformance import isolation, loading, pool
from conformance.imports import frameworks_of
from conformance.plugin import FRAMEWORK_MODULES

CALLS = 40


def measure(spec: str, sizes: tuple) -> tuple:
    impl = loading.load(spec)
    n, d_in, h, d_out = sizes
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((n, d_in)), rng.standard_normal((n, d_out))
    cfg = impl.config.replace(batch=n, d_in=d_in, hidden=h, d_out=d_out, steps=2, lr=1e-4, dtype="float64",
                              init=None, depths=None, model=impl.config.model)
    for _ in range(3):
        impl.run(x, y, cfg)
    began, inside = time.perf_counter(), 0.0
    for _ in range(CALLS):
        impl.run(x, y, cfg)
        inside += impl.seconds
    return (time.perf_counter() - began) / CALLS * 1e3, inside / CALLS * 1e3


def main(specs):
    isolation.preload(FRAMEWORK_MODULES[f] for s in specs for f in frameworks_of(loading.locate(s)[0])
                      if f in FRAMEWORK_MODULES)
    for spec in specs:
        for sizes in ((8, 10, 6, 3), (64, 1000, 100, 10)):
            whole, inside = measure(spec, sizes)
            print(f"{spec}  {'x'.join(map(str, sizes))}: {whole:.1f} ms a call, {inside:.1f} ms inside train, "
                  f"{whole - inside:.1f} ms around it")
    pool.stop_all()


if __name__ == "__main__":
    main(sys.argv[1:] or ["meta_tests/correct/student.py", "implementations/torch_autograd.py"])
