"""Which checks apply, and in what order: every check that does not apply is deselected with its
reason, every skip names its cause; an implementation's checks run together (its worker serves
them all); timings run in passes spread over the run."""
from pathlib import Path

import pytest

from conformance import ROOT
from conformance.keys import DESELECTED, IMPLS
from conformance.pool import gpu_missing_reason

META = ROOT / "meta_tests"


def arrange(config, items):
    """Deselect, with reasons, what does not apply, and order the rest (after -k and -m, so that only
    the implementations still selected are probed)."""
    plugged = bool(config.getoption("impl"))
    benchmarking = config.getoption("benchmark_only", False)
    reasons = config.stash[DESELECTED]
    if not benchmarking and not _random_order(config):  # one implementation's checks together: its worker
        # (and its compiled code) serves them all; in an xdist worker, the heaviest first (the groups go
        # out in this order), so that the light ones even out the end of the run
        rank = {id(i): n for n, i in enumerate(config.stash[IMPLS])}
        worker = hasattr(config, "workerinput")

        def order(item):  # the self-tests first
            impl = _impl_of(item)
            return (0, 0, 0) if impl is None else (1, -_weight(impl) if worker else 0, rank.get(id(impl), -1))

        items.sort(key=order)
    probed = []
    for item in items:
        impl = _impl_of(item)
        if impl is not None and impl not in probed:
            probed.append(impl)
    for impl in reversed(probed):  # the last probed still have their workers when the first checks run
        if impl.fault is None:
            impl.probe()
    keep = []
    for item in items:
        why = _not_applicable(item, config, plugged, benchmarking)
        if why:
            reasons.setdefault(why, []).append(item.nodeid)
        else:
            keep.append(item)
    if len(keep) != len(items):
        config.hook.pytest_deselected(items=[i for i in items if i not in set(keep)])
        items[:] = keep
    if benchmarking:  # a timing taken in passes: every implementation's first pass, then every one's second ...
        def when(item):  # then, within a pass, every implementation at one budget before the next budget
            params = getattr(getattr(item, "callspec", None), "params", {})  # (the GPU's, with no cores, last)
            return params.get("part", 0), params.get("cores", 1 << 30)
        items.sort(key=when)


COMPILING = {"tensorflow", "keras", "jax", "torch.compile", "tf.jit_compile"}  # they compile for each new shape


def _weight(impl) -> int:
    """How long an implementation's checks take, roughly, from what it imports: a framework that
    compiles per shape (the domain family draws many), then torch, then NumPy alone."""
    frameworks = set(impl.frameworks)
    return 2 if frameworks & COMPILING else 1 if "torch" in frameworks else 0


def _random_order(config) -> bool:
    """Whether pytest-random-order was asked to shuffle (then the order is its own)."""
    try:
        from random_order.config import Config as RandomOrder
    except ImportError:
        return False
    try:
        return RandomOrder(config).is_enabled
    except (ValueError, AttributeError):
        return False


def _impl_of(item):
    params = getattr(item, "callspec", None)
    return params.params.get("impl") if params else None


def _not_applicable(item, config, plugged, benchmarking) -> str:
    path = Path(str(item.path))
    timed = "benchmark" in getattr(item, "fixturenames", ())
    if benchmarking and not timed:
        return "everything but the timings: --benchmark-only runs the timings alone"
    if timed and not benchmarking:
        return "timings: they run only under --benchmark-only"
    if item.get_closest_marker("sweep") and not config.getoption("benchmark_sweep"):
        return "the size sweep: it runs only with --benchmark-sweep"
    if META in path.parents:
        if plugged:
            return "self-tests of the suite: they run without --impl"
        if item.get_closest_marker("serial") and (getattr(config.option, "numprocesses", None)
                                                   or hasattr(config, "workerinput")):
            return "self-tests that time things: they need the machine to themselves (run them without -n)"
        return ""
    if item.get_closest_marker("replay") and not config.getoption("replay"):
        return "replaying an example: it runs only with --replay"
    params = getattr(item, "callspec", None)
    impl = params.params.get("impl") if params else None
    gpu = item.get_closest_marker("cuda") is not None
    if impl is None:
        return ""
    if timed:  # a timing of a module that cannot run fails on its own: no probe needed
        return _gpu_less(item, impl) if gpu else ""
    problem = impl.preflight()
    first = item.get_closest_marker("own_cell") is not None  # the check that says why nothing else runs
    if problem and not first and impl.own_fault() is not None:
        return f"every other check of {impl.name}: {impl.own_fault().status} (see its contract failure)"
    if problem and not first:
        return f"every other check of {impl.name}: its own cell does not run (see its contract failure)"
    structure = params.params.get("structure")
    if structure is not None and structure not in impl.claims():
        return f"checks of the structures {impl.name} refuses (NotImplementedError)"
    if item.get_closest_marker("dynamic_only") and not impl.dynamic:
        return f"dynamic-model checks of {impl.name}: it computes no model='dynamic' structure"
    return _gpu_less(item, impl) if gpu else ""


def _gpu_less(item, impl) -> str:
    """A GPU's check (the devices family, the GPU's speed table): left out for NumPy-only code,
    skipped naming why where its frameworks see no GPU."""
    if not ({"torch", "tensorflow", "jax"} & set(impl.frameworks)):
        return f"device checks of {impl.name}: it uses NumPy alone, which runs on the CPU only"
    reason = gpu_missing_reason(impl.frameworks)
    if reason:
        item.add_marker(pytest.mark.skip(reason=reason))
    return ""
