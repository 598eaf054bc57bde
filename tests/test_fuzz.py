"""Fuzz test over every public entry point (issue 12), with a fixed budget that fits CI.

For each entry point of tests/fuzz_catalogue.py, hypothesis draws up to 30 argument combinations from the
entry's pools (a valid default or a bad value per argument: wrong type, None, bool, NaN/inf, negative,
zero, huge, wrong shape).  Every outcome must be a valid result (no undocumented NaN / inf) or a
ValueError / TypeError whose message names a changed argument (or a documented DivergenceError /
TrainingDiverged).  Each example has a 20 s alarm, so a hang fails the test instead of stalling CI.
The long campaign (15,000 cases, hangs and crashes counted in subprocesses) is benchmarks/fuzz_campaign.py.
"""
import signal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fuzz_catalogue as fc

ENTRIES = fc.entries()
CI_ENTRIES = [e for e in ENTRIES if not e.slow]


def _choices(entry):
    return st.fixed_dictionaries({k: st.one_of(st.just(0), st.integers(1, len(pool) - 1))
                                  for k, pool in entry.params.items()})


class _Hang(Exception):
    pass


def _alarm(signum, frame):  # pragma: no cover - only when a case hangs
    raise _Hang()


def test_catalogue_covers_the_public_modules():
    names = {e.name.split(".")[0] for e in ENTRIES}
    assert {"WCRNN", "Elman", "net", "residuals", "residual", "training", "memory", "spectral", "theory",
            "tasks", "lyapunov"} <= names
    assert len(CI_ENTRIES) >= 60


@pytest.mark.parametrize("entry", CI_ENTRIES, ids=[e.name for e in CI_ENTRIES])
def test_every_outcome_is_valid_or_a_named_error(entry):
    @settings(max_examples=30, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(_choices(entry))
    def run(choice_idx):
        old = signal.signal(signal.SIGALRM, _alarm)
        signal.alarm(20)
        try:
            outcome, detail = fc.classify(entry, choice_idx)
        except _Hang:  # pragma: no cover
            outcome, detail = "hang", "no result within 20 s"
        finally:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, old)
        assert outcome in ("valid", "clean"), (f"{entry.name}({entry.labels(choice_idx)}): {outcome}: {detail}")

    run()


def test_classify_recognises_each_outcome():
    e = fc.Entry("t", lambda x: x, {"x": [fc._const("1.0", 1.0), fc._const("nan", float("nan"))]})
    assert fc.classify(e, {"x": 0})[0] == "valid"
    assert fc.classify(e, {"x": 1})[0] == "garbage"

    def raise_(exc):
        def f(x):
            raise exc
        return f
    assert fc.classify(fc.Entry("t", raise_(ValueError("x must be > 0")), e.params), {"x": 1})[0] == "clean"
    assert fc.classify(fc.Entry("t", raise_(ValueError("bad")), e.params), {"x": 1})[0] == "unnamed"
    assert fc.classify(fc.Entry("t", raise_(KeyError("x")), e.params), {"x": 1})[0] == "other"
