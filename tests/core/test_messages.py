"""One helper quotes the first line of a tool's or an exception's message for a person."""

from __future__ import annotations

from app.core.jobs import first_line


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
