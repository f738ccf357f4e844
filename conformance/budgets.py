"""Thread budgets of the speed tables: one thread per library (the repeatable table) and all of the
cores the suite may use (what users run). A timing process is held to its budget by CPU affinity,
not only by the libraries' thread settings: XLA ignores its single-thread flag (measured on this
2-vCPU machine: `--xla_cpu_multi_thread_eigen=false` and a 2048^2 product on 1.96 cores), while no
thread of a process pinned to k CPUs can run anywhere else. The thread settings still size each
library's pool to the budget, so that its threads do not wait on each other for one core."""
import os
import sys

THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "TF_NUM_INTRAOP_THREADS",
               "TF_NUM_INTEROP_THREADS")
SINGLE_XLA = "--xla_cpu_multi_thread_eigen=false"


def allowed() -> list:
    """The CPUs this process may run on (all of them where affinity cannot be read)."""
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux: no affinity; the budget rests on the thread settings alone
        return list(range(os.cpu_count() or 1))


def budgets() -> list:
    """The speed tables' budgets in cores: 1, and all the suite may use where that is more."""
    cores = len(allowed())
    return [1] + ([cores] if cores > 1 else [])


def name(cores: int) -> str:
    return "1 thread" if cores == 1 else f"{cores} cores"


def gpu_host() -> int:
    """The cores of a GPU table's timing processes: all the suite may use, as users run one."""
    return budgets()[-1]


def table(cores: int, device: str = "cpu") -> str:
    """A speed table's key: its thread budget ("1", "2"), or the GPU its rows ran on ("cuda:0")."""
    return str(cores) if device == "cpu" else device


def table_name(key) -> str:
    key = str(key)
    return name(int(key)) if key.isdigit() else key


def table_order(key):
    """The CPU tables first, by their cores, then the GPUs'."""
    key = str(key)
    return (not key.isdigit(), int(key) if key.isdigit() else 0, key)


def env(cores: int) -> dict:
    """The libraries' thread settings for a budget of `cores` (read when each starts its pools)."""
    out = {k: str(cores) for k in THREAD_VARS}
    flags = os.environ.get("XLA_FLAGS", "").replace(SINGLE_XLA, "").strip()
    out["XLA_FLAGS"] = f"{flags} {SINGLE_XLA}".strip() if cores == 1 else flags
    return out


def hold(cores: int) -> str:
    """In a worker process, before any framework has started its pools: pin it to `cores` CPUs
    (the last ones, away from the suite's process, which the kernel starts on the first) and size
    every library's pool to the budget. Returns how it is held, in words."""
    os.environ.update(env(cores))
    cpus = allowed()[-cores:]
    how = "threads set"
    try:
        for tid in _threads():  # affinity is per thread: the pools started before this call too
            try:
                os.sched_setaffinity(tid, cpus)
            except ProcessLookupError:  # a thread that ended since it was listed
                pass
        how = f"pinned to CPU {','.join(map(str, cpus))}"
    except (AttributeError, OSError):  # no affinity here: a row that used more cores says so
        pass
    try:
        import threadpoolctl

        threadpoolctl.threadpool_limits(cores)  # NumPy's OpenBLAS, loaded in the fork server already
    except ImportError:
        pass
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(cores)
    return how


def _threads() -> list:
    """This process's threads (Linux), or [0]: the calling thread."""
    try:
        return [int(t) for t in os.listdir("/proc/self/task")]
    except OSError:
        return [0]


def blas() -> list:
    """The BLAS libraries loaded here, with the kernel each runs (threadpoolctl's architecture)."""
    try:
        import threadpoolctl
    except ImportError:
        return []
    out = [{k: lib.get(k) for k in ("internal_api", "version", "architecture", "num_threads", "prefix")}
           for lib in threadpoolctl.threadpool_info() if lib.get("user_api") == "blas"]
    torch = sys.modules.get("torch")
    if torch is not None:  # torch links its BLAS statically, out of threadpoolctl's sight
        out.append({"internal_api": "torch", "version": torch.__version__, "prefix": "torch",
                    "architecture": torch.backends.cpu.get_cpu_capability(), "num_threads": torch.get_num_threads()})
    return out


FORCED = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")  # set on some machines for older OpenBLAS builds


def forced() -> dict:
    """The environment's settings that force a BLAS kernel (the suite never changes them)."""
    return {k: os.environ[k] for k in FORCED if os.environ.get(k)}


def described() -> str:
    """How the timings are threaded, for the run's header."""
    shown = ", ".join(f"{k}=k" for k in THREAD_VARS[:3])
    return (f"tables at {' and '.join(name(c) for c in budgets())}; each timing process pinned to its "
            f"cores by affinity, every library's pool sized to them ({shown}, TF and XLA likewise)")
