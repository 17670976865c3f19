"""Progress bars for long simulations, drawn on stderr while a numba engine runs.

The engines are single numba calls that release the GIL (`nogil=True`) and keep their counters in
numpy arrays, so a watcher thread can read how far they are without the engine knowing it is
watched: `watched(run, done, total, label)` runs `run()` in a worker thread and draws a rich bar
from `done()` until it returns. Nothing is drawn unless progress is switched on (the CLI does,
`enable()`), stderr is a terminal, and the run lasts longer than `DELAY_S`, so scripts, tests and
`--format json` output never see a bar.
"""
from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")
DELAY_S = 0.5  # shorter runs finish before a bar would be worth drawing
_enabled = False


def enable(on: bool = True) -> None:
    global _enabled
    _enabled = on


def active() -> bool:
    return _enabled and sys.stderr.isatty()


def watched(run: Callable[[], T], done: Callable[[], float], total: float, label: str,
            force: bool = False) -> T:
    """`run()`, with a progress bar of `done()` out of `total` while it runs (see the module
    docstring for when one is drawn; `force` draws one even off a terminal, for tests)."""
    if not (force or active()) or total <= 0:
        return run()
    from rich.console import Console
    from rich.progress import (BarColumn, Progress, TaskProgressColumn, TextColumn,
                               TimeElapsedColumn, TimeRemainingColumn)
    box: dict = {}

    def worker():
        try:
            box["result"] = run()
        except BaseException as exc:  # re-raised in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=worker, daemon=True)
    thread.start()
    thread.join(DELAY_S)
    if thread.is_alive():
        columns = (TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
                   TimeElapsedColumn(), TimeRemainingColumn())
        console = Console(stderr=True, force_terminal=force or None)
        with Progress(*columns, console=console, transient=True) as bar:
            task = bar.add_task(label, total=total)
            while thread.is_alive():
                bar.update(task, completed=min(float(done()), total))
                thread.join(0.1)
            bar.update(task, completed=total)
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["result"]
