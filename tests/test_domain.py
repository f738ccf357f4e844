"""The whole contract, not one point: valid calls drawn over the contract's domain (hypothesis).

Each example is a shape and two or three calls at it, each with its own structure (among those
the implementation computes), precision, learning rate, step count, seed, data, init and depths
given or drawn, and inputs in other precisions and memory layouts; every call is checked in full
against the contract and against the oracle within bounds derived for that very call
(tests/calls.py, tests/envelope.py). The default run is derandomized (the same examples every
time); --max-examples, --hypothesis-seed and --hypothesis-profile=deep explore more. A failure is
shrunk to the smallest example and printed with the command that replays exactly it.
"""
import pytest
from hypothesis import example, given

from conformance.loading import structure_of
from tests import strategies
from tests.calls import Unstable, check_example, replay_command
from tests.strategies import Example


def test_domain(impl, request):
    replay = replay_command(impl, request.config)
    free = request.config.getoption("hypothesis_profile", None) == "deep"

    @given(strategies.examples(free_shapes=free))
    @example(strategies.LONG_RUN)
    @example(strategies.AWKWARD_INPUTS)
    def calls_conform(example):
        check_example(impl, example, replay)

    calls_conform()


def test_replay(impl, request):
    """One example, exactly as a failure printed it (--replay)."""
    text = request.config.getoption("replay")
    if not text:
        pytest.skip("replays an example given with --replay")
    try:
        check_example(impl, Example.from_json(text), replay_command(impl, request.config))
    except Unstable as e:
        pytest.skip(f"not a valid example: {e}")
