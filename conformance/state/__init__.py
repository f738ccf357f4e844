"""Process-wide state: what a train call, or importing an implementation, must leave as it found it.

snapshot() reads every setting the contract names, for the frameworks imported so far: default
dtypes and float precision (torch's default dtype, float32 matmul precision and autocast, JAX's
x64 mode and every other JAX flag, Keras' floatx), thread counts (torch intra/inter-op,
TensorFlow's, every BLAS/OpenMP pool through threadpoolctl), grad, inference and anomaly modes
(torch's, autograd multithreading, TensorFlow's op callbacks such as check numerics),
deterministic modes, eager mode and run-functions-eagerly, backend flags (torch.backends, TF32,
XLA jit, op determinism, the MLIR bridge, TensorFlow's NumPy behaviour, dynamo's config,
flush-to-zero), TensorFlow's seed, device and placement settings,
environment variables, warning filters, logging configuration (root and every library logger:
level, handlers, propagation), recursion limit, gc, NumPy's and torch's print options and
NumPy's error handling. diff() names what changed; restore() puts it back. Global random
generators are not settings: drawing from one is allowed, so they are judged apart (rngs()).

warm_up() runs each framework's first-use set-up (TensorFlow's environment variables at import,
torch setting TORCHINDUCTOR_CACHE_DIR when optim first loads dynamo, the warning filters and
loggers they add) before the suite takes its baseline, so that no implementation is blamed for
what its framework does once per process.
"""
from conformance.state.defaults import DEFAULTS, defaults_of, flipped
from conformance.state.frameworks import registry
from conformance.state.generators import distinct_states, rngs, saved_rngs
from conformance.state.changes import STUCK, applied, diff, put, remember, restore, snapshot, stuck_by_others, watching
from conformance.state.values import MISSING, Change, describe
from conformance.state.warmup import BASELINE, WARMED, ensure_warm, take_baseline, warm_up

__all__ = ["BASELINE", "DEFAULTS", "MISSING", "STUCK", "WARMED", "Change", "applied", "defaults_of", "describe",
           "diff", "distinct_states", "ensure_warm", "flipped", "put", "registry", "remember", "restore", "rngs",
           "saved_rngs", "snapshot", "stuck_by_others", "take_baseline", "warm_up", "watching"]
