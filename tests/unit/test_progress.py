"""pimc.progress: a bar for long engine runs, drawn only when asked, never changing results."""
from __future__ import annotations

import time

import numpy as np
import pytest

from pimc import progress
from pimc.runtime.pimsim import run_trace
from pimc.runtime.pimsim.trace import Trace


def _slow(counter: list, steps=8, pause=0.1):
    for _ in range(steps):
        time.sleep(pause)
        counter[0] += 1
    return "done"


def test_bar_is_drawn_for_a_long_run_and_the_result_returned(capsys):
    counter = [0]
    assert progress.watched(lambda: _slow(counter), lambda: counter[0], 8, "slow",
                            force=True) == "done"
    err = capsys.readouterr().err
    assert "slow" in err and "%" in err


def test_nothing_is_drawn_off_a_terminal_or_for_short_runs(capsys):
    counter = [0]
    progress.enable()
    try:  # pytest's stderr is not a terminal
        assert progress.watched(lambda: _slow(counter), lambda: counter[0], 8, "slow") == "done"
    finally:
        progress.enable(False)
    assert progress.watched(lambda: 7, lambda: 0, 8, "fast", force=True) == 7
    assert capsys.readouterr().err == ""


def test_errors_in_the_run_reach_the_caller():
    def boom():
        time.sleep(0.6)
        raise ValueError("engine failed")
    with pytest.raises(ValueError, match="engine failed"):
        progress.watched(boom, lambda: 0, 1, "boom", force=True)


def test_dram_run_under_a_bar_equals_the_plain_run(monkeypatch):
    n = 20000
    addr = (np.arange(n, dtype=np.int64) * 64) % (1 << 24)
    trace = Trace("stream", addr, np.zeros(n, bool), np.arange(n, dtype=np.int64),
                  np.arange(1, n + 1, dtype=np.int64))
    plain = run_trace(trace, "hbm2")
    monkeypatch.setattr(progress, "active", lambda: True)
    monkeypatch.setattr(progress, "DELAY_S", 0.0)  # the engine runs in the watcher's thread
    watched = run_trace(trace, "hbm2")
    assert (watched.cycles, watched.commands) == (plain.cycles, plain.commands)


def test_pim_attention_under_a_bar_equals_the_plain_run(monkeypatch):
    from pimc.runtime.pimsim.attacc import run_attention
    plain = run_attention(L=256, nhead=16, dhead=64, dbyte=2, placement="BA")
    monkeypatch.setattr(progress, "active", lambda: True)
    monkeypatch.setattr(progress, "DELAY_S", 0.0)
    watched = run_attention(L=256, nhead=16, dhead=64, dbyte=2, placement="BA")
    assert (watched.cycles, watched.commands) == (plain.cycles, plain.commands)
