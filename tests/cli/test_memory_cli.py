"""``tfswa-studio memory``: tables per mode, the largest batch for a budget, JSON, a config."""

from __future__ import annotations

import json

import pytest

from app.cli import main
from app.core.memory import load_training_config


pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.fixture
def tiny_ckpt(short_fft_ckpt):
    return short_fft_ckpt


@pytest.mark.slow
def test_json_has_every_mode_and_the_largest_batch(tiny_ckpt, tmp_path, capsys):
    config = tmp_path / "cfg" / "training-config.json"
    assert main(["memory", str(tiny_ckpt), "--batch", "1,2,4", "--budget-gb", "1",
                 "--optimizer", "sgd", "--json", "--save-config", str(config),
                 "--config-mode", "checkpointing"]) == 0
    out = capsys.readouterr()
    data = json.loads(out.out)
    plan = data["plan"]
    assert [m["mode"] for m in plan["modes"]] == ["baseline", "checkpointing", "mixed", "both"]
    assert plan["frames"] == 345 and plan["optimizer"] == "sgd"
    for mode in plan["modes"]:
        assert [e["batch_size"] for e in mode["estimates"]] == [1, 2, 4]
        totals = [e["total"] for e in mode["estimates"]]
        assert totals == sorted(totals) and mode["max_batch"] >= 4
        e = mode["estimates"][0]
        assert e["total"] == e["parameters"] + e["gradients"] + e["optimizer_state"] + e["activations"]
        assert e["optimizer_state"] == e["gradients"]          # SGD momentum: one buffer
    base, ckpt = plan["modes"][0], plan["modes"][1]
    assert ckpt["max_batch"] > base["max_batch"]
    saved = load_training_config(config)
    assert data["training_config"] == str(config)
    # The largest batch that fits is far beyond 4, but only batches up to 4 were asked for.
    assert ckpt["max_batch"] > 4 and plan["reserve_gb"] == 0.5    # the Memory tab's default
    assert (saved.gradient_checkpointing, saved.batch_size, saved.precision,
            saved.segment_seconds) == (True, 4, "fp32", 0.5)
    assert "memory" in out.err                                  # progress on the terminal


def test_table_output_and_modes(tiny_ckpt, capsys):
    assert main(["memory", str(tiny_ckpt), "--batch", "2:4:2", "--budget-gb", "1",
                 "--modes", "baseline,both", "--precision", "fp16", "--segment", "0.25"]) == 0
    out = capsys.readouterr().out
    assert "baseline (fp32)" in out and "checkpointing + mixed precision (fp16" in out
    assert "checkpointing (fp32" not in out
    assert "fits 1 GiB" in out and "Largest batch for 1 GiB" in out
    assert "(173 frames)" in out
    assert " MiB" in out and "0.00 GiB" not in out        # small sizes in MiB, each with its unit


@pytest.mark.parametrize("argv,message", [
    (["--batch", "two"], "cannot read batch sizes"),
    (["--modes", "turbo"], "unknown mode"),
    (["--modes", "baseline", "--config-mode", "both", "--save-config", "x.json"], "not among"),
    (["--segment", "0"], "segment length must be positive"),
])
def test_bad_options_are_reported(tiny_ckpt, capsys, argv, message):
    assert main(["memory", str(tiny_ckpt)] + argv) == 2
    assert message in capsys.readouterr().err


def test_missing_checkpoint_names_the_file(tmp_path, capsys):
    assert main(["memory", str(tmp_path / "nope.pt")]) == 2
    assert "nope.pt" in capsys.readouterr().err
