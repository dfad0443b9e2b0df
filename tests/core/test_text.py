"""Text for a person, one helper each: the first line of a tool's or an exception's message,
and durations as a clock (terminal progress, CLI summaries, the GUI's player)."""

from __future__ import annotations

from app.core.jobs import first_line, format_seconds


def test_the_first_non_blank_line_without_colour_codes():
    error = RuntimeError("\n  \x1b[31mExporting failed\x1b[0m: aten::foo\nTraceback ...\n")
    assert first_line(error) == "Exporting failed: aten::foo"


def test_an_empty_message_names_the_exception_instead_of_crashing():
    assert first_line(EOFError()) == "EOFError"
    assert first_line(RuntimeError("   \n")) == "RuntimeError"
    assert first_line("") == "no details"


def test_long_lines_are_cut():
    assert first_line("x" * 1000) == "x" * 300
    assert first_line("y" * 1000, limit=20) == "y" * 20


def test_durations_read_as_a_clock_in_the_terminal_and_the_player():
    assert format_seconds(65) == "1:05"
    assert format_seconds(3723) == "1:02:03"
    assert format_seconds(1.24, 1) == "0:01.2"
    assert format_seconds(59.96, 1) == "1:00.0"          # rounding carries into the minute
    assert format_seconds(None) == format_seconds(float("nan")) == "--:--"
