"""Progress of long work (a retrain, a simulation, photo acquisition) as people can follow it.

On a terminal each finished phase prints a line with its counts and the elapsed time, and a
loop of known length shows a progress bar; anywhere else (a worker, a log file, CI) the same
events are plain log lines, one per phase and one at the start and end of each loop.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

from tqdm import tqdm

log = logging.getLogger(__name__)
Step = Callable[[int], None]  # what ``Progress.bar`` yields: call it with the items just done


class Progress:
    """Reports the phases of one piece of work named ``title``."""

    def __init__(self, title: str, stream: TextIO | None = None) -> None:
        self.title = title
        self._stream = stream
        self._started = time.monotonic()

    @classmethod
    def for_terminal(cls, title: str, stream: TextIO | None = None) -> Progress:
        """Bars and lines on ``stream`` (stderr) when it is a terminal, log lines otherwise."""
        stream = stream if stream is not None else sys.stderr
        return cls(title, stream if stream.isatty() else None)

    @property
    def elapsed(self) -> float:
        """Seconds since the work started."""
        return time.monotonic() - self._started

    def phase(self, name: str, detail: str = "") -> None:
        """Say that the phase ``name`` is done (or under way), with its counts in ``detail``."""
        text = f"{name}: {detail}" if detail else name
        if self._stream is None:
            log.info("%s: %s (%.1fs)", self.title, text, self.elapsed)
        else:
            tqdm.write(f"{self.title} [{self.elapsed:6.1f}s] {text}", file=self._stream)

    @contextmanager
    def bar(self, total: int, what: str, unit: str = "it") -> Iterator[Step]:
        """A loop over ``total`` items; call the yielded step with how many just finished.

        Silent when there is nothing to do.
        """
        started = time.monotonic()
        if total == 0:  # nothing to do, nothing to say
            yield lambda done: None
            return
        if self._stream is None:
            log.info("%s: %s: %d %s to do", self.title, what, total, unit)
            yield lambda done: None
            log.info("%s: %s: %d %s in %.1fs", self.title, what, total, unit,
                     time.monotonic() - started)  # fmt: skip
            return
        with tqdm(total=total, desc=f"{self.title} {what}", unit=unit, file=self._stream,
                  leave=False, dynamic_ncols=True) as shown:  # fmt: skip
            yield shown.update
        self.phase(what, f"{total} {unit} in {time.monotonic() - started:.1f}s")


QUIET = Progress("work")  # log lines only, for callers that pass nothing
