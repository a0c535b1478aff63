"""Progress of long work: lines and bars on a terminal, log lines elsewhere."""

from __future__ import annotations

import io
import logging
import re

import pytest

from core.progress import Progress
from core.settings import Settings
from retraining.loop import retrain
from retraining.resources import open_resources
from tests.unit.test_retraining_loop_unit import send_answers


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_phases_print_with_elapsed_time_and_a_loop_shows_a_bar() -> None:
    terminal = Terminal()
    progress = Progress.for_terminal("retrain", terminal)
    progress.phase("check", "fired (new_labels)")
    with progress.bar(40, "features", "photos") as step:
        for _ in range(4):
            step(10)
    shown = terminal.getvalue()
    assert re.search(r"retrain \[\s*\d+\.\ds\] check: fired \(new_labels\)", shown)
    assert "retrain features:" in shown and "/40 [" in shown  # the bar
    assert re.search(r"features: 40 photos in \d+\.\ds", shown)


def test_elsewhere_the_same_events_are_log_lines(caplog: pytest.LogCaptureFixture) -> None:
    progress = Progress.for_terminal("retrain", io.StringIO())
    with caplog.at_level(logging.INFO, logger="core.progress"):
        progress.phase("check", "fired (new_labels)")
        with progress.bar(40, "features", "photos") as step:
            step(40)
        with progress.bar(0, "nothing", "photos") as step:
            step(0)
    lines = [record.getMessage() for record in caplog.records]
    assert lines[0].startswith("retrain: check: fired (new_labels) (")
    assert lines[1:] == [
        "retrain: features: 40 photos to do",
        lines[2],
    ] and re.fullmatch(r"retrain: features: 40 photos in \d+\.\ds", lines[2])


def test_a_retrain_reports_each_phase_with_its_counts(settings: Settings) -> None:
    terminal = Terminal()
    res = open_resources(settings, progress=Progress.for_terminal("retrain", terminal))
    send_answers(res, 20, seed=1)
    outcome = retrain(res, settings)
    assert outcome.status == "promoted", outcome.reason
    phases = re.findall(r"\] (\w+):", terminal.getvalue())
    assert phases == ["check", "curate", "datasets", "train", "evaluate", "decide"]
    assert "320 new labelled photos" in terminal.getvalue()
    assert "v1 promoted" in terminal.getvalue()
