"""What the plugin keeps on pytest's config for the run (its stash) and sends its xdist workers,
named once for every module that reads it."""
import pytest

IMPLS = pytest.StashKey[list]()  # the implementations under test (conformance.impl.Impl)
THREADS = pytest.StashKey[str]()  # how timings are threaded (--benchmark-only)
DESELECTED = pytest.StashKey[dict]()  # reason -> [test ids]
NOT_IMPLEMENTATIONS = pytest.StashKey[list]()  # files in an --impl folder or pattern that define no train
STARTED = pytest.StashKey[float]()  # when this pytest run began, nearly (the report says the time to the first test)
