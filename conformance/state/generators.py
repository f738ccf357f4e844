"""The global random generators: drawing from one is allowed, so they are judged apart from settings."""
import contextlib
import sys

import numpy as np


def rngs() -> dict:
    """{generator: (read its state as bytes, save it, put a saved state back)} for those imported now."""
    import random

    out = {"numpy global generator (np.random)": (lambda: repr(np.random.get_state()).encode(), np.random.get_state,
                                                  np.random.set_state),
           "python random": (lambda: repr(random.getstate()).encode(), random.getstate, random.setstate)}
    torch = sys.modules.get("torch")
    if torch is not None:
        out["torch global generator"] = (lambda: torch.get_rng_state().numpy().tobytes(), torch.get_rng_state,
                                         torch.set_rng_state)
        cuda = torch.cuda
        if cuda.is_available() and cuda.is_initialized():  # torch.cuda.manual_seed_all seeds these alone
            try:
                cuda.get_rng_state_all()
                out["torch cuda generators"] = (lambda: b"".join(t.numpy().tobytes() for t in cuda.get_rng_state_all()),
                                                cuda.get_rng_state_all, cuda.set_rng_state_all)
            except RuntimeError:  # a device that cannot say: left unwatched
                pass
    tf = sys.modules.get("tensorflow")
    if tf is not None and hasattr(tf, "random"):
        from tensorflow.python.eager import context
        from tensorflow.python.ops import stateful_random_ops as srm

        def tf_state():
            return None if srm.global_generator is None else srm.global_generator.state.numpy()

        def tf_put(state):
            if state is not None and srm.global_generator is not None:
                srm.global_generator.state.assign(state)

        out["tensorflow global seed (tf.random.set_seed)"] = (lambda: repr(context.global_seed()).encode(),
                                                               context.global_seed, tf.random.set_seed)
        out["tensorflow global generator"] = (lambda: repr(tf_state()).encode(), tf_state, tf_put)
    return out


def distinct_states(seed: int) -> None:
    """Put every global generator in a state derived from seed: two seeds, two different states."""
    import random

    np.random.seed(seed)
    random.seed(seed)
    if "torch" in sys.modules:
        sys.modules["torch"].manual_seed(seed)
    tf = sys.modules.get("tensorflow")
    if tf is not None and hasattr(tf, "random"):
        from tensorflow.python.ops import stateful_random_ops as srm

        tf.random.set_seed(seed)
        if srm.global_generator is not None:
            srm.global_generator.reset_from_seed(seed)


@contextlib.contextmanager
def saved_rngs():
    """Put every global generator back as it was after the block."""
    saved = {k: save() for k, (_, save, _) in rngs().items()}
    try:
        yield
    finally:
        for k, (_, _, put) in rngs().items():
            if k in saved:
                try:
                    put(saved[k])
                except Exception:  # noqa: BLE001 - a generator that cannot take its state back
                    pass
