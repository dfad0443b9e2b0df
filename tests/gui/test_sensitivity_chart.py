"""The per-layer sensitivity chart reads at the scale of the measured costs: quantizing costs a
few mdB per group while the budget is 200 mdB, and bars drawn against the budget's scale
were flat lines a user could not compare. Every group's name stays on its own row."""

from __future__ import annotations

import pytest

from app.core.quantization import LayerSensitivity
from app.gui.tabs.quantize.sensitivity_chart import SensitivityChart

GROUPS = ["stem", "downs.0", "downs.1", "blocks.0/tsa", "blocks.0/swmsa", "ups.0", "head"]


def _chart(qtbot, costs, budget=0.2, kept=()):
    chart = SensitivityChart()
    qtbot.addWidget(chart)
    chart.resize(500, 380)
    chart.show()
    chart.set_budget(budget)
    for name, cost in zip(GROUPS, costs):
        chart.add(LayerSensitivity(group=name, nodes=2, mask_snr_db=40.0,
                                   sdr_cost_db={"vocals": cost, "accompaniment": cost / 2},
                                   kept_fp32=name in kept))
    return chart


def _x_range(chart):
    return chart.plot.getPlotItem().viewRange()[0]


def test_small_costs_fill_the_axis_and_the_budget_is_named(qtbot):
    costs = [0.012, 0.004, -0.002, 0.006, 0.0025, 0.03, 0.021]
    chart = _chart(qtbot, costs)
    low, high = _x_range(chart)
    assert max(costs) / (high - low) > 0.5          # the worst bar spans most of the plot
    assert not chart.budget_in_view()
    assert chart.budget_note is not None and "0.20 dB" in chart.budget_note
    assert "15 %" in chart.budget_note               # 0.03 of 0.2
    assert "0.20 dB" in chart.plot.getPlotItem().getAxis("bottom").labelText
    assert chart.bar_heights() == pytest.approx([max(c, c / 2) for c in costs])  # worst stem
    ticks = chart.plot.getPlotItem().getAxis("left")._tickLevels[0]
    assert [name for _, name in ticks] == GROUPS


def test_costs_near_the_budget_draw_the_line(qtbot):
    chart = _chart(qtbot, [0.05, 0.3, 0.01, 0.12, 0.0, 0.21, 0.02], kept=("downs.0",))
    assert chart.budget_in_view()
    assert chart.budget_note is None
    assert chart.kept_groups() == ["downs.0"]


def test_every_group_improving_says_so(qtbot):
    chart = _chart(qtbot, [-0.01, -0.002, -0.004, -0.001, -0.02, -0.003, -0.005])
    assert "no group costs SDR" in chart.budget_note
    low, high = _x_range(chart)
    assert low < -0.02 < 0 < high


def test_clear_returns_to_the_placeholder(qtbot):
    chart = _chart(qtbot, [0.01] * len(GROUPS))
    chart.clear()
    assert chart.showing_placeholder()
    assert chart.bar_heights() == [] and chart.budget_note is None
