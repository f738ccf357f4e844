"""The whole contract, not one point: valid calls drawn over the contract's domain (hypothesis).

Each example is a shape and two or three calls at it, each with its own structure (among those
the implementation computes), precision, learning rate, step count, seed, data, init and depths
given or drawn, and inputs in other precisions and memory layouts; every call is checked in full
against the contract and against the oracle within bounds derived for that very call
(conformance/core/calls.py, conformance/core/envelope.py). The default run is derandomized (the same examples every
time); --max-examples, --hypothesis-seed and --hypothesis-profile=deep explore more. A failure is
shrunk to a small example and printed with the command that replays exactly it.

Shrinking is bounded by work, not time, so that the verdict and the example printed are the same
on every machine: after the first failure, at most SHRINK_TRIES more examples are run (each costs
the oracle's reference and its shadows, ~1 s; unbounded, one Adam failure spent 69 s shrinking
over 88 examples). Candidates past the budget are declined unrun; hypothesis's final replay of the
smallest failing example always runs. The deep profile shrinks without a bound; --shrink-budget
sets another (0: the first failing example, as drawn).
"""
import pytest
from hypothesis import example, given, seed, settings
from hypothesis.errors import FlakyFailure

from conformance.core import strategies
from conformance.core.calls import Unstable, check_example, final, replay_command
from conformance.core.compare import fail
from conformance.core.strategies import Example

SHRINK_TRIES = 24
DERANDOMIZED = 20261130  # the seed of the default run's draws (--hypothesis-seed or the deep profile: others)


def test_domain(impl, request):
    replay = replay_command(impl, request.config)
    free = request.config.getoption("hypothesis_profile", None) == "deep"
    budget = request.config.getoption("shrink_budget")
    budget = (None if free else SHRINK_TRIES) if budget is None else budget
    tries = None  # examples run since the first failure (None: no failure yet)

    @given(strategies.examples(free_shapes=free))
    @example(strategies.LONG_RUN)
    @example(strategies.AWKWARD_INPUTS)
    @example(strategies.REPEATED)
    def calls_conform(example):
        nonlocal tries
        if tries is not None:
            if budget is not None and tries >= budget and not final():
                return  # past the shrinking budget: declined unrun
            tries += 1
        try:
            check_example(impl, example, replay)
        except Unstable:
            raise
        except BaseException:
            tries = 0 if tries is None else tries
            raise

    if settings().derandomize:
        # the default run's draws, fixed: not hypothesis' digest of this function's source, which
        # every edit of it would change (and with it which examples CI runs)
        calls_conform = seed(DERANDOMIZED)(calls_conform)
    try:
        calls_conform()
    except FlakyFailure as e:  # the same example failed, then passed: the calls before it decided
        first = e.exceptions[0]
        first = first.__cause__ or first  # hypothesis wraps pytest's failure (a BaseException)
        fail("an example failed and then passed when run again in the same process: the result depends on "
             "calls made before it (state kept between calls, such as a cache keyed by shape, optimizer moments "
             "or a compiled step that keeps its first settings). The first failure: "
             + str(getattr(first, "msg", first)).rsplit(" [", 1)[0], impl)


def test_sizes_beyond_the_cell(impl, request):
    """Every size one more than its own cell's (the pool's are all smaller), in two calls."""
    check_example(impl, strategies.beyond_the_cell(impl.config, impl.claims()), replay_command(impl, request.config))


@pytest.mark.replay
def test_replay(impl, request):
    """One example, exactly as a failure printed it (--replay)."""
    text = request.config.getoption("replay")
    if not text:
        pytest.skip("replays an example given with --replay")
    try:
        check_example(impl, Example.from_json(text), replay_command(impl, request.config))
    except Unstable as e:
        pytest.skip(f"not a valid example: {e}")
