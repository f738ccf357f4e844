"""The self-tests' own option: --deep runs the parts that take long. The default run (CI's, and
./run tests) leaves them out, skipped with the reason; ./run tests --deep runs everything."""
import pytest


def pytest_addoption(parser):
    group = parser.getgroup("self-tests", "the project's self-tests (meta_tests/)")
    group.addoption("--deep", action="store_true", default=False,
                    help="also run the deep self-tests: the correct modules in eager TensorFlow, Keras and JAX "
                         "(a jitted step, a scan, optax) through every family, not the trajectory family alone "
                         "(about 5 min more of the workers' time; default: off)")


def pytest_configure(config):
    config.addinivalue_line("markers", "deep: a self-test that takes long: it runs only with --deep")


def pytest_collection_modifyitems(config, items):
    if config.getoption("deep"):
        return
    skip = pytest.mark.skip(reason="a deep self-test: it runs only with --deep (./run tests --deep)")
    for item in items:
        if item.get_closest_marker("deep"):
            item.add_marker(skip)
