"""The progress bar of long table runs: shown on a terminal only, never in pipes or logs."""

from __future__ import annotations

import io

from derive.cli import PROGRESS_MIN_TOTAL, progress_bar
from derive.model.spec import parse_spec
from derive.model.tables import truncnorm_rows


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_no_progress_bar_when_stderr_is_not_a_terminal() -> None:
    assert progress_bar(io.StringIO()) is None


def test_progress_bar_on_a_terminal_ends_at_the_total_with_a_newline() -> None:
    stream = _Terminal()
    show = progress_bar(stream)
    assert show is not None
    total = 10_000
    for done in range(1, total + 1):
        show(done, total)
    text = stream.getvalue()
    assert text.endswith(f"] {total}/{total} intervals\n")
    assert text.count("\r") <= 201  # redrawn at most every 0.5 %, not per interval
    assert "[" + "#" * 30 + "]" in text


def test_short_runs_draw_no_bar_even_on_a_terminal() -> None:
    stream = _Terminal()
    show = progress_bar(stream)
    assert show is not None
    for done in range(1, PROGRESS_MIN_TOTAL):
        show(done, PROGRESS_MIN_TOTAL - 1)
    assert stream.getvalue() == ""


def test_table_rows_report_progress_after_every_interval() -> None:
    spec = parse_spec(
        {"digits": 5, "outputs": ["constants.json"], "intervals": [["0", "1"], ["1", "2"]]}
    )
    seen: list[tuple[int, int]] = []
    rows = truncnorm_rows(spec, lambda done, total: seen.append((done, total)))
    assert seen == [(1, 2), (2, 2)]
    assert [row["key"] for row in rows] == ["[0, 1]", "[1, 2]"]
