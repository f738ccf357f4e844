"""Hygiene: the same result every time, in any order with other calls and implementations, and
whatever the caller writes into an earlier result; the caller's inputs untouched; the same result
under a caller's other default dtype; no process-wide state changed, neither by a call nor by
importing the module; global random generators judged fairly (seeding one or depending on one
fails, merely drawing from one is a note).

The suite's baseline is the state at start-up, after each framework's one-time set-up
(conformance/state/), and every test starts from it: the plugin puts back whatever a test
left changed, and says so in that implementation's hygiene cell.
"""
import numpy as np
import pytest

from conformance import state
from conformance.data import make_data
from conformance.replies import one_line_error
from conformance.results import Prop
from conformance.core.compare import assert_unchanged, fail, inputs_copy, named_arrays
from conformance.core.start import setup, small_sizes

STEPS = 20
CAUSES = ("usual causes: iterating over a set (or a dict built from one) whose order changes from run to run, "
          "reductions whose order depends on threads or scheduling (parallel or atomic sums), reading memory "
          "made with np.empty/torch.empty before writing it, or an unseeded random generator")


def difference(a, b) -> str:
    """Where and by how much two results differ: the largest difference and the array it is in."""
    worst = (0.0, "", 0.0)
    for key in a:
        pairs = [(key, a[key], b[key])] if key in ("losses", "depths") else \
            [(f"{key}[{k!r}]", a[key][k], b[key][k]) for k in a[key]]
        for name, u, v in pairs:
            u, v = np.asarray(u, dtype=np.float64), np.asarray(v, dtype=np.float64)
            if u.shape != v.shape:
                return f"{name} changed shape {u.shape} -> {v.shape}"
            d = float(np.max(np.abs(u - v))) if u.size else 0.0
            if d > worst[0] or (np.isnan(d) and not worst[1]):
                worst = (d, name, float(np.max(np.abs(u))) if u.size else 0.0)
    d, name, scale = worst
    return f"largest difference {d:.2e} in {name} (relative {d / scale if scale else d:.1e})"


def differing(a, b):
    """The first key in which two results differ (None: bit-identical)."""
    for key in a:
        if key in ("losses", "depths"):
            same = np.array_equal(np.asarray(a[key]), np.asarray(b[key]), equal_nan=True)
        else:
            same = all(np.array_equal(a[key][k], b[key][k], equal_nan=True) for k in a[key])
        if not same:
            return key
    return None


def assert_identical(a, b, impl, cfg, when):
    __tracebackhide__ = True
    key = differing(a, b)
    if key:
        fail(f"the same inputs gave a different {key!r} {when}: {difference(a, b)}; bit-identical results "
             f"are owed on the CPU ({CAUSES})", impl, cfg)


def test_same_result_twice(impl):
    x, y, cfg = setup(impl, 0, impl.config.dtype, steps=STEPS)
    assert_identical(impl.run(x, y, cfg), impl.run(x, y, cfg), impl, cfg, "on a second run")


def test_results_are_the_callers(impl):
    """The caller may write into the arrays a call returned: the next call must not see it (they
    are the caller's, not arrays the module keeps and reads again, such as an init cached per seed)."""
    x, y, cfg = setup(impl, 0, impl.config.dtype, steps=STEPS)
    cfg = cfg.replace(init=None)  # drawn: returning cfg.init's own arrays as init is allowed (they are the caller's)
    first, second = impl.run(x, y, cfg), impl.run(x, y, cfg)
    if differing(first, second):
        pytest.skip("its results differ from run to run already (test_same_result_twice says where)")
    written = []
    for label, a in named_arrays({k: first.get(k) for k in ("losses", "init", "params", "grads")}):
        if isinstance(a, np.ndarray) and a.flags.writeable and a.dtype.kind == "f" and a.size:
            a[...] = np.nan
            written.append(label)
    if not written:
        pytest.skip("every array it returns is read-only (or not a NumPy array): a caller cannot write into them")
    impl.write_into(first, np.nan)  # the same writes into the module's own objects, in its process
    key = differing(second, impl.run(x, y, cfg))
    if key:
        fail(f"after the caller wrote NaN into the arrays the first call returned ({', '.join(written)}), the same "
             f"inputs gave a different {key!r}: the module keeps arrays it returned and reads them again (an init "
             "or parameters cached between calls); return copies that are the caller's (a.copy())", impl, cfg)


def test_same_result_after_other_calls(impl, bystanders):
    """Other implementations, and other calls of this one at other sizes, learning rates and
    step counts, run in between."""
    x, y, cfg = setup(impl, 0, impl.config.dtype, steps=STEPS)
    first = impl.run(x, y, cfg)
    others = bystanders(impl)
    for other in others:  # in impl's own process, as a caller's other calls would be
        cell = other.config.replace(seed=1, steps=3, init=None, depths=None)
        impl.run(*make_data(cell, 1), cell, beside=other)
        impl.leaks.clear()  # a leak of theirs is theirs to answer for
    for seed, changes in ((2, {"batch": 5, "d_in": 7, "hidden": 3, "d_out": 2, "steps": 4, "lr": cfg.lr * 3}),
                          (9, {"steps": STEPS + 7, "lr": cfg.lr / 2})):
        impl.run(*setup(impl, seed, cfg.dtype, **changes))
    after = impl.run(x, y, cfg)
    names = ", ".join(o.name for o in others)
    assert_identical(first, after, impl, cfg, f"after {names} and two calls of {impl.name} at other sizes, "
                                              "learning rates and step counts ran in between")


def test_result_follows_the_values(impl):
    """The same x and y arrays, refilled with other values, give what new arrays holding those
    values give: the result depends on the values, not on which arrays hold them."""
    x, y, cfg = setup(impl, 0, impl.config.dtype, steps=STEPS)
    impl.run(x, y, cfg)
    other_x, other_y = make_data(cfg, 1)
    x[...], y[...] = other_x, other_y
    refilled = impl.run(x, y, cfg)
    key = differing(refilled, impl.run(other_x.copy(), other_y.copy(), cfg))
    if key:
        fail(f"the same x and y arrays, refilled with other values after a call, gave a different {key!r} than new "
             "arrays holding those values: the result follows the arrays' identity, not their values (a cache "
             "keyed by id(x) or by its data pointer, or a reference kept to the caller's arrays)", impl, cfg)


def test_result_ignores_process_defaults(impl, record_property):
    """A caller may have set torch's default dtype, Keras' floatx or JAX's x64 mode. From a given
    init, a float32 call under the other value of each that applies to its frameworks (float64,
    x64 on) gives a bit-identical result: its precision is cfg.dtype's, whatever the defaults
    (else it fails). A float64 call is not tried: what it makes in the default dtype is float64
    under those values, as it should be. An init it draws itself that changes with them (nn.Linear's
    own init, made in the default dtype and then cast) is a note: the same seed gives another
    start in such a caller's process."""
    names = state.defaults_of(impl.frameworks)
    if not names:
        pytest.skip(f"{impl.name} uses no framework with a process-wide default dtype (NumPy has none)")
    richest = max(impl.claims(), key=lambda s: (s["model"] == "dynamic") + s["bias"] + (s["optimizer"] == "adam"))
    for changes in ({}, {**richest, **small_sizes()}):  # its cell, and the structure with the most in it
        if changes and all(getattr(impl.config, k) == v for k, v in richest.items()):
            continue
        check_defaults(impl, names, changes, record_property, drawn_too=not changes)


def check_defaults(impl, names, changes, record_property, drawn_too):
    __tracebackhide__ = True
    x, y, cfg = setup(impl, 0, "float32", steps=3, **changes)
    fix = ("Name the dtype wherever an array, tensor, layer or variable is made (dtype=cfg.dtype: torch.zeros(..., "
           "dtype=...), nn.Linear(..., dtype=...), Keras layers' dtype=, jnp.zeros(..., dtype=...))")

    def under(flip, cfg):
        try:
            return impl.run(x, y, cfg, flip=flip)
        except Exception as e:  # noqa: BLE001 - what it makes in the default dtype meets what it makes in cfg.dtype
            return e

    def off(usual, other):
        return isinstance(other, Exception) or differing(usual, other)

    def culprits(usual, cfg):
        if not off(usual, under(names, cfg)):
            return []
        return [n for n in names if off(usual, under([n], cfg))] or names

    usual = impl.run(x, y, cfg)
    guilty = culprits(usual, cfg)
    if guilty:
        other, setting = under(guilty, cfg), " and ".join(guilty)
        if isinstance(other, Exception):
            fail(f"with {setting} set to its other value by the caller, the same call raised {one_line_error(other)}: "
                 f"it makes something in the process default, not in cfg.dtype. {fix}", impl, cfg)
        fail(f"with {setting} set to its other value by the caller, the same call (from the same init) gave a "
             f"different {differing(usual, other)!r} ({difference(usual, other)}): its precision follows a process "
             f"default, not cfg.dtype. {fix}", impl, cfg)
    if not drawn_too:
        return
    drawn = cfg.replace(init=None, depths=None)
    guilty = culprits(impl.run(x, y, drawn), drawn)
    if guilty:
        record_property(Prop.NOTE, f"the init it draws from cfg.seed changes with {' and '.join(guilty)} (a caller "
                                "may set it): the same seed gives another start there. Draw it in cfg.dtype "
                                "(nn.Linear(..., dtype=...), torch.randn(..., dtype=...)) rather than in the "
                                "default dtype and then casting")


def test_same_result_in_a_fresh_process(impl):
    """The same call in a second, freshly started interpreter (another hash seed, another address
    layout, nothing imported before it) gives a bit-identical result, its drawn init included."""
    x, y, cfg = setup(impl, 0, impl.config.dtype, steps=STEPS)
    cfg = cfg.replace(init=None)
    first, other = impl.run(x, y, cfg), impl.run(x, y, cfg, fresh=True)
    key = differing(first, other)
    if key:
        fail(f"the same call gave a different {key!r} in a fresh process ({difference(first, other)}): the result "
             "must depend on (x, y, cfg) alone, not on the process (usual causes: iterating over a set of strings "
             "or objects, whose order follows the hash seed or the addresses, e.g. drawing the parameters in the "
             "order of set(names); id() or hash() in a key or an order)", impl, cfg)


def test_inputs_unchanged(impl):
    x, y, cfg = setup(impl, 0, impl.config.dtype, steps=STEPS)
    before = inputs_copy(x, y, cfg)
    impl.run(x, y, cfg)
    assert_unchanged(before, x, y, cfg, impl)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_call_changes_no_process_state(impl, dtype):
    """Every setting the contract names, read before and after a call, and compared with the start
    of the run too (so that setting what an earlier call already left set still shows); warning
    filters and logging with pytest's own out of the way, so that simplefilter and basicConfig show."""
    x, y, cfg = setup(impl, 0, dtype, steps=STEPS)
    impl.run(x, y, cfg, watch=True)
    changes = impl.reply["changes"]
    if changes:
        fail(f"the call changed process-wide state and left it so: {'; '.join(map(str, changes[:6]))}"
             + (f" (+{len(changes) - 6} more)" if len(changes) > 6 else "")
             + "; set such things only inside the call and put them back (a context manager)", impl, cfg)


def test_import_changes_no_process_state(impl):
    """Importing the module (watched by the suite when it loaded it) changed nothing."""
    if impl.import_changes:
        changes = impl.import_changes
        fail(f"importing {impl.where} changed process-wide state: {'; '.join(map(str, changes[:6]))}"
             + (f" (+{len(changes) - 6} more)" if len(changes) > 6 else "")
             + "; the suite runs this module with it and everything else without it. Move it into train, "
               "inside a context that puts it back (e.g. jax.enable_x64(...) rather than jax.config.update)", impl)


FIXES = {
    "numpy global generator (np.random)": "np.random.default_rng(cfg.seed)",
    "python random": "random.Random(cfg.seed)",
    "torch global generator": "torch.Generator().manual_seed(cfg.seed), passed as generator=",
    "torch cuda generators": "torch.Generator(device=cfg.device).manual_seed(cfg.seed), passed as generator=",
    "tensorflow global seed (tf.random.set_seed)": "tf.random.Generator.from_seed(cfg.seed)",
    "tensorflow global generator": "tf.random.Generator.from_seed(cfg.seed)",
}


# who draws from a global generator without seeding it, and how to leave it alone
DRAWERS = {
    "torch global generator": "Building an nn.Linear does; to leave it alone, build layers with "
                              "nn.utils.skip_init, or under torch.random.fork_rng().",
    "python random": "Building a Keras layer whose initializer has no seed does; to leave it alone, give the "
                     "initializers a seed (keras.initializers.GlorotUniform(seed=cfg.seed)).",
}


def test_global_generators(impl, record_property):
    """Each global generator is put in two different states before two identical calls, then in
    the second state again before a third. Seeding it (its states after the first two calls agree
    although they differed before) fails; so does reseeding it from the OS (np.random.seed(),
    torch.seed(): the second and third calls start from one state and leave two); a result that
    differs between the first two fails; merely drawing from it (deterministic, given the state
    before) is reported as a note. The third call repeats the second, past any first-call set-up."""
    x, y, cfg = setup(impl, 0, impl.config.dtype, steps=3)
    runs = []
    for seed in (20260229, 11, 11):  # in its worker: the generators put in a state from seed, then the call
        result = impl.run(x, y, cfg, rngs=seed)
        runs.append((impl.reply["rngs_before"], result, impl.reply["rngs_after"]))
    (b1, r1, a1), (b2, r2, a2), (b3, _, a3) = runs
    seeded = [g for g in a1 if g in b1 and g in a2 and b1[g] != b2[g] and a1[g] == a2[g]]
    if seeded:
        g = seeded[0]
        fail(f"train seeds the {g}: its state after the call no longer depends on its state before. Seed a "
             f"generator of your own instead ({FIXES.get(g, 'a local generator seeded by cfg.seed')})", impl, cfg)
    reseeded = [g for g in a2 if g in b2 and g in a3 and b2[g] == b3[g] and a2[g] != a3[g]]
    if reseeded:
        g = reseeded[0]
        fail(f"train reseeds the {g} from the OS (np.random.seed() or torch.seed() with no seed, say): two "
             "identical calls from one state leave it in two, so a caller that seeded it for reproducibility no "
             f"longer gets it. Seed a generator of your own ({FIXES.get(g, 'a local generator seeded by cfg.seed')})",
             impl, cfg)
    assert_identical(r1, r2, impl, cfg, "when the global random generators were in another state before the call "
                                        "(the result must depend on cfg.seed alone)")
    drew = [g for g in a1 if g in b1 and a1[g] != b1[g]]
    if drew:
        record_property(Prop.NOTE, f"draws from the {', the '.join(drew)} without seeding it: tolerated, as the result "
                                "does not depend on it. " + " ".join(DRAWERS.get(g, "") for g in drew).strip())
