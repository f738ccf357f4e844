"""The suite's pytest wiring: --impl, parametrising over implementations, skips, header, repro."""
import os
import shlex
import sys
from importlib import metadata

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up chatter, before any import

pytest_plugins = ["pytester"]  # the catalogue self-test runs the suite inside the suite

from tests import helpers  # noqa: E402


def pytest_addoption(parser):
    group = parser.getgroup("conformance", "two-layer net conformance suite")
    group.addoption("--impl", action="append", default=[], metavar="PATH|MODULE",
                    help="verify this implementation (a .py file or a dotted module name; repeatable) "
                         "instead of the bundled ones. Default: every module in implementations/.")


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
    for item in items:
        if "benchmark" in item.fixturenames and not benchmarking:
            item.add_marker(pytest.mark.skip(reason="timing runs only under --benchmark-only"))
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


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """End every failure with the command that reproduces it, from the repository root;
    tag each report with its implementation (the summary reads it, also under xdist)."""
    report = yield
    impl = item.callspec.params.get("impl") if hasattr(item, "callspec") else None
    if impl is not None and call.when == "call":
        report.user_properties.append(("impl", impl.name))
    if report.failed and call.when == "call":
        exe = os.path.relpath(sys.executable) if sys.executable.startswith(str(helpers.ROOT)) else "python"
        cmd = f"{exe} -m pytest {shlex.quote(item.nodeid)}"
        if impl is not None:
            cmd += impl.repro_flag()
        report.longrepr = f"{report.longreprtext}\n\nreproduce (from the repository root):\n  {cmd}"
    return report


# ----------------------------------------------------------------- the conformance summary

FAMILIES = {"test_contract": "contract", "test_gradients": "gradients", "test_trajectory": "trajectory",
            "test_learning": "learning", "test_hygiene": "hygiene", "test_bad_input": "bad input",
            "test_devices": "devices", "test_speed": "speed"}


def pytest_terminal_summary(terminalreporter, config):
    """Implementations down, check families across: which passed which family."""
    cells, names = {}, [i.name for i in config.stash[IMPLS]]
    for status in ("passed", "failed", "skipped"):
        for rep in terminalreporter.stats.get(status, []):
            impl = dict(getattr(rep, "user_properties", ())).get("impl")
            family = FAMILIES.get(rep.nodeid.split("::")[0].rpartition("/")[2].removesuffix(".py"))
            if impl and family:
                cells.setdefault((impl, family), []).append(status)
    families = [f for f in FAMILIES.values() if any(k[1] == f for k in cells)]
    if not families:
        return
    def mark(statuses):
        if not statuses:
            return "-"
        if "failed" in statuses:
            return f"FAIL {statuses.count('failed')}/{len(statuses)}"
        return "pass" if "passed" in statuses else "skip"
    width = max(len(n) for n in names) + 2
    cols = [max(len(f), 9) + 2 for f in families]
    tr = terminalreporter
    tr.section("conformance")
    tr.write_line("".ljust(width) + "".join(f.ljust(c) for f, c in zip(families, cols)))
    for name in names:
        row = [mark(cells.get((name, f), [])) for f in families]
        verdict = "FAILS" if any(r.startswith("FAIL") for r in row) else "conforms"
        line = name.ljust(width) + "".join(r.ljust(c) for r, c in zip(row, cols)) + verdict
        tr.write_line(line, red=verdict == "FAILS", green=verdict == "conforms")
