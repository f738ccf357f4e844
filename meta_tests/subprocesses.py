"""Starting pytest (or anything) in a fresh process, as a user would: without xdist's worker
variables. The one-thread limits of ./run's parallel pass stay (a child with threads of its own
beside the other worker thrashes: measured 38 s instead of 10 s for one report run), unless
the test needs the libraries' default threads (default_threads=True)."""
import os
import sys

XDIST = ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID", "PYTEST_CURRENT_TEST")
THREADS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
SET_BY_THIS_RUN = XDIST + THREADS


def fresh_env(default_threads: bool = False) -> dict:
    drop = SET_BY_THIS_RUN if default_threads else XDIST
    return {k: v for k, v in os.environ.items() if k not in drop}


def pytest_cmd(*args) -> list:
    return [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *map(str, args)]
