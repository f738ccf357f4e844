"""The worker's hold on the caller's inputs (conformance/worker.py), without a process: an input
the caller let go of is freed, but its id is never a later input's."""
import numpy as np
import pytest

from conformance import worker
from conformance.worker import Server

pytestmark = pytest.mark.selftest


def cycle(server, count, shape=(64, 100), start=1):
    """count inputs, each handed to the module, then let go of; the ids the module saw."""
    ids = []
    for token in range(start, start + count):
        a = server.keep(token, np.full(shape, float(token)))
        ids.append(id(a))
        del a
        server.let_go(server.kept.pop(token))
    return ids


def test_an_input_let_go_is_freed_and_its_id_is_no_later_inputs():
    server = Server()
    ids = cycle(server, 300)
    assert len(set(ids)) == len(ids), "a new input got the id of one let go of: a cache keyed by id(x) meets it"
    assert len(server.emptied) == 300 and all(a.nbytes == 0 for a in server.emptied) and not server.held


def test_an_input_the_module_still_holds_is_left_whole_until_it_lets_go():
    server = Server()
    a = server.keep(1, np.arange(6.0))
    cache = {id(a): a[:3]}  # the module kept a view of its input
    del a
    server.let_go(server.kept.pop(1))
    assert list(cache.values())[0].tolist() == [0.0, 1.0, 2.0] and len(server.held) == 1
    cache.clear()
    cycle(server, 1, start=2)
    assert not server.held and len(server.emptied) == 2


def test_views_held_beyond_the_cap_are_let_go_oldest_first(monkeypatch):
    monkeypatch.setattr(worker, "HELD_BYTES", 3 * 800)
    server = Server()
    base = np.zeros(100)
    views = [base[i:] for i in range(5)]  # views own no memory: never emptied, held while the cap allows
    for token, v in enumerate(views, 1):
        server.keep(token, v)
        server.let_go(server.kept.pop(token))
    assert [id(v) for v in server.held] == [id(v) for v in views[2:]]
