"""copy_files: temporary names, all-or-nothing rename, no overwrite without permission."""

from __future__ import annotations

import pytest

from app.core import files
from app.core.files import PARTIAL_SUFFIX, copy_files
from app.core.jobs import CancelToken, Cancelled, UserError


@pytest.fixture
def sources(tmp_path):
    a, b = tmp_path / "a.wav", tmp_path / "b.wav"
    a.write_bytes(b"A" * 10_000)
    b.write_bytes(b"B" * 20_000)
    return a, b


def test_copies_every_file_and_reports_progress(tmp_path, sources):
    a, b = sources
    out = tmp_path / "out" / "track"
    seen = []
    done = copy_files({a: out / "x.wav", b: out / "y.wav"}, progress=lambda f, m: seen.append(f))
    assert done == [out / "x.wav", out / "y.wav"]
    assert (out / "x.wav").read_bytes() == a.read_bytes()
    assert (out / "y.wav").read_bytes() == b.read_bytes()
    assert seen[-1] == 1.0 and seen == sorted(seen)


def test_never_overwrites_without_permission(tmp_path, sources):
    a, b = sources
    target = tmp_path / "out" / "y.wav"
    target.parent.mkdir()
    target.write_bytes(b"keep me")
    with pytest.raises(UserError, match="already exists"):
        copy_files({a: tmp_path / "out" / "x.wav", b: target})
    assert target.read_bytes() == b"keep me"
    assert not (tmp_path / "out" / "x.wav").exists()           # checked before any copy
    copy_files({b: target}, overwrite=True)
    assert target.read_bytes() == b.read_bytes()


def test_cancel_leaves_nothing_behind(tmp_path, sources, monkeypatch):
    a, b = sources
    monkeypatch.setattr(files, "COPY_BLOCK", 1000)
    token = CancelToken()
    calls = []

    def progress(fraction, message):
        calls.append(fraction)
        if fraction > 0.5:
            token.cancel()

    out = tmp_path / "out"
    with pytest.raises(Cancelled):
        copy_files({a: out / "x.wav", b: out / "y.wav"}, progress=progress, cancel=token)
    assert [p.name for p in out.iterdir()] == []
    assert not list(tmp_path.rglob(f"*{PARTIAL_SUFFIX}"))
