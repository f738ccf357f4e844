"""The suite's pytest wiring: --impl, parametrising over implementations, skips, header.

The report (repro lines, matrix, files, progress) is the plugin in tests/report.py."""
import os
from importlib import metadata

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up chatter, before any import

pytest_plugins = [
    "pytester",  # the catalogue self-test runs the suite inside the suite
    "tests.report",  # repro lines, the conformance matrix, report files, live progress
]

from tests import helpers  # noqa: E402


def pytest_addoption(parser):
    group = parser.getgroup("conformance", "two-layer net conformance suite")
    group.addoption("--impl", action="append", default=[], metavar="PATH|MODULE",
                    help="verify this implementation (a .py file or a dotted module name; repeatable) "
                         "instead of the bundled ones. Default: every module in implementations/.")
    group.addoption("--benchmark-sweep", action="store_true", default=False,
                    help="with --benchmark-only, also time every implementation at sizes N = D_in = H = D_out "
                         "= 1 ... 2048 and draw speed_sweep.png. Default: off (the tutorial cells only).")


def pytest_configure(config):
    for word in ("warmup", "autograd", "nn", "fast", "numpy", "torch", "tensorflow", "jax", "reference"):
        config.addinivalue_line("markers", f"{word}: implementations tagged {word!r} in their TAGS")
    try:
        impls = [helpers.load(s) for s in config.getoption("impl")] or helpers.bundled()
    except helpers.ImplError as e:
        raise pytest.UsageError(f"cannot use implementation {e}") from None
    names = [i.name for i in impls]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise pytest.UsageError(f"two implementations share the name {dupes}: rename one file")
    for tag in {t for i in impls for t in i.tags}:
        config.addinivalue_line("markers", f"{tag}: implementations tagged {tag!r} in their TAGS")
    config.stash[IMPLS] = impls
    if not hasattr(config, "workerinput"):  # xdist workers send their reports to the controller
        from tests.report import Reporter  # imported by pytest_plugins above, with assertion rewriting

        config.pluginmanager.register(Reporter(config, impls), "conformance-report")
    if config.getoption("benchmark_only", False) and getattr(config.option, "numprocesses", None):
        raise pytest.UsageError("benchmarks need one process: run --benchmark-only without -n "
                                "(pytest-xdist workers would share the cores and skew every timing)")


IMPLS = pytest.StashKey[list]()


def pytest_generate_tests(metafunc):
    if "impl" in metafunc.fixturenames:
        impls = metafunc.config.stash[IMPLS]
        if metafunc.definition.get_closest_marker("dynamic_only"):
            impls = [i for i in impls if i.dynamic]  # the check means nothing for a two-layer model
        params = [pytest.param(i, id=i.name, marks=[getattr(pytest.mark, t) for t in i.tags]) for i in impls]
        metafunc.parametrize("impl", params)


@pytest.fixture(scope="session")
def all_impls(request):
    """Every implementation under test, for checks that run them side by side."""
    return request.config.stash[IMPLS]


def pytest_collection_modifyitems(config, items):
    """Every reasoned skip of the suite, in one place."""
    plugged = bool(config.getoption("impl"))
    benchmarking = config.getoption("benchmark_only", False)
    cuda = helpers.cuda_devices()
    if benchmarking:  # only the timings run: the rest is left out, not listed as hundreds of skips
        timed = [i for i in items if "benchmark" in i.fixturenames]
        config.hook.pytest_deselected(items=[i for i in items if "benchmark" not in i.fixturenames])
        items[:] = timed
    for item in items:
        if "benchmark" in item.fixturenames and not benchmarking:
            item.add_marker(pytest.mark.skip(reason="timing runs only under --benchmark-only"))
        elif item.get_closest_marker("sweep") and not config.getoption("benchmark_sweep"):
            item.add_marker(pytest.mark.skip(reason="the size sweep runs only with --benchmark-sweep"))
        if item.get_closest_marker("selftest") and plugged:
            item.add_marker(pytest.mark.skip(reason="a self-test of the suite; it runs without --impl"))
        if item.get_closest_marker("cuda") and not cuda:
            item.add_marker(pytest.mark.skip(reason=helpers.cuda_missing_reason()))


def pytest_report_header(config):
    impls = config.stash[IMPLS]
    versions = []
    for dist in ("numpy", "torch", "tensorflow-cpu", "tensorflow", "jax"):
        try:
            versions.append(f"{dist} {metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            pass
    cuda = helpers.cuda_devices()
    return [
        "implementations: " + ", ".join(f"{i.name} ({' '.join(i.tags)})" for i in impls),
        "frameworks: " + ", ".join(versions),
        "devices: cpu" + (", " + ", ".join(cuda) if cuda else f"; {helpers.cuda_missing_reason()}"),
    ]
