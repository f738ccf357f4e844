"""The worker processes the suite keeps: the implementations' own (a few alive at once, least
recently used stopped first), the timing workers per thread budget, and the run's one fresh
interpreter; importing a module into one; asking one for GPUs."""
from collections import OrderedDict

from conformance import devices, isolation
from conformance.imports import FRAMEWORKS, frameworks_of, libraries_of
from conformance.replies import ImplError

GPU_FRAMEWORKS = frozenset(FRAMEWORKS) - {"numpy"}  # those that can run on a GPU


def import_in(worker, name, spec, path, dotted, frameworks, where, stuck=()) -> dict:
    """Import a module in a worker; an unusable module raises ImplError, a fault WorkerFault."""
    warm = frameworks_of(path, top_level=True) | libraries_of(path)
    reply = worker.request({"op": "load", "spec": spec or str(path), "path": str(path), "dotted": dotted,
                            "warm": sorted(warm), "frameworks": list(frameworks), "where": where, "name": name,
                            "stuck": sorted(stuck)},
                           f"the import of {where}")
    if "ok" in reply:
        return reply["ok"]
    if "problem" in reply:
        worker.stop()
        raise ImplError(reply["problem"])
    if "exit" in reply:
        worker.stop()
        raise isolation.WorkerFault("EXIT", f"importing it called sys.exit({reply['exit']['code']!r}): put the code "
                                            "a script runs under if __name__ == '__main__':")
    if "interrupt" in reply:
        worker.stop()
        raise isolation.WorkerFault("INTERRUPT", f"its import raised KeyboardInterrupt{reply['interrupt']['where']}")
    worker.stop()
    raise ImplError(f"{where}: import failed: {reply['raised']['oneline']}")


FRESH = {}  # 'worker': the run's spawned interpreter; 'loaded': the modules imported in it


def fresh_worker():
    if "worker" not in FRESH or not FRESH["worker"].alive():
        FRESH.clear()
        FRESH.update(worker=isolation.Worker(fresh=True), loaded=set())
    return FRESH["worker"]


def load_into(fresh, impl) -> str:
    key = impl.spec or impl.dotted or str(impl.path)
    if key not in fresh["loaded"]:
        import_in(fresh["worker"], impl.name, key, impl.path, impl.dotted, impl.frameworks, impl.where)
        fresh["loaded"].add(key)
    return key


ACTIVE = OrderedDict()  # id(impl) -> impl whose worker runs, least recently used first
ACTIVE_MOST = 6  # workers alive at once in one suite process (each holds its module and compiled code)


TIMING = OrderedDict()  # (id(impl), thread budget) -> impl whose timing worker runs, least recently used first
TIMING_WORKER_GB = 0.5  # the least a timing worker is taken to hold (measured: 0.12-0.32 GiB at the tutorial cells)


def _available_gb():
    try:
        with open("/proc/meminfo") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("MemAvailable:")) / 2 ** 20
    except (OSError, StopIteration, ValueError, IndexError):
        return None


def room_for_timing() -> bool:
    """Whether another timing worker may start beside those kept: the memory available now holds
    twice the largest of them, measured (a worker's size grows with the sizes it times: 2.5-3 GiB
    at the sweep's 2048). Where /proc/meminfo cannot be read, ACTIVE_MOST at once."""
    available = _available_gb()
    if available is None:
        return len(TIMING) < ACTIVE_MOST
    largest = max([TIMING_WORKER_GB, *(w.rss_gb() for impl in TIMING.values() for w in impl._timing.values())])
    return available >= 2 * largest


def trim_timing(keep=None):
    """Stop kept timing workers, least recently used first and never `keep`, until memory has room
    for another as large as the largest (they grow with the sizes they time after they start)."""
    for key in list(TIMING):
        if room_for_timing():
            return
        if key != keep:
            impl = TIMING.pop(key)
            impl._timing.pop(key[1]).stop()


def make_room():
    while len(ACTIVE) >= ACTIVE_MOST:
        _, impl = ACTIVE.popitem(last=False)
        impl.stop()


def stop_all():
    """The run's workers stopped; the fresh interpreter stays for the next run in this process (a
    self-test's inline run: a new one would import every framework again), and ends with it."""
    for impl in [*ACTIVE.values(), *TIMING.values()]:
        impl.stop()


_GPU = {}


def gpu_missing_reason(frameworks) -> str:
    """'' when a GPU is visible to one of these frameworks; otherwise why not: asked once per set of
    frameworks, in a worker (the suite's own process imports none of them)."""
    key = tuple(sorted(GPU_FRAMEWORKS & set(frameworks)))
    if not key:
        return "no GPU: NumPy runs on the CPU only"
    if key not in _GPU:
        _GPU[key] = devices.builds_reason(key)  # the installed builds may say it without a worker
    if _GPU[key] is None:
        worker = isolation.Worker()
        try:
            _GPU[key] = worker.request({"op": "devices", "frameworks": list(key)}, "asking the frameworks for GPUs",
                                       timeout=max(isolation.LIMITS["timeout"], 120))["missing"]
        finally:
            worker.stop()
    return _GPU[key]
