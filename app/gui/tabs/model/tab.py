"""The Model tab: what ``tfswa-studio info`` prints, for the loaded checkpoint.

The summary and the per-stage table come from :func:`app.core.info.model_info`, which runs
a forward pass, so it is computed in a worker whenever the workspace gets a new bundle. The
tab assembles the panels of :mod:`app.gui.tabs.model.panels`.
"""

from __future__ import annotations

import json
from typing import Any, Optional

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QGroupBox, QHBoxLayout, QLabel, QStackedWidget, QVBoxLayout, QWidget

from ....core.backends import ArtifactInfo
from ....core.checkpoint import ModelBundle
from ....core.evaluation import quality_summary
from ....core.info import ModelInfo, human_count, model_info
from ...jobs import Job
from ...widgets import NO_MODEL_TEXT, EmptyState
from ..base import Tab, TabContext
from .panels import MetadataTree, QualityBanner, StageTable, SummaryForm
from .summary import artifact_rows, graph_html, summary_rows


def readable_metadata(metadata: dict) -> dict:
    """An exported file's string properties with its JSON values opened up (nested rows)."""
    out = {}
    for key, value in metadata.items():
        if isinstance(value, str) and value[:1] in "{[":
            try:
                out[key] = json.loads(value)
                continue
            except ValueError:
                pass
        out[key] = value
    return out


class ModelTab(Tab):
    title = "Model"
    tooltip = "The loaded checkpoint: configuration, parameter count and per-stage table"

    def __init__(self, ctx: TabContext, parent: Optional[QWidget] = None):
        super().__init__(ctx, parent)
        self.info: Optional[ModelInfo] = None
        self.artifact: Optional[ArtifactInfo] = None
        self._bundle: Optional[ModelBundle] = None
        self._job: Optional[Job] = None
        self.empty = EmptyState("No model loaded", NO_MODEL_TEXT,
                                [("Open checkpoint…", ctx.window.open_checkpoint_dialog)])
        self.quality = QualityBanner()
        self.status = QLabel()
        self.status.setStyleSheet("color:#555")
        self.summary = {name: SummaryForm(name) for name in ("Model", "Audio")}
        self.metadata_tree = MetadataTree()
        self.table = StageTable()
        self.stack = QStackedWidget()
        self.stack.addWidget(self.empty)
        self.stack.addWidget(self._content())
        layout = QVBoxLayout(self.page)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.stack)
        if ctx.workspace.bundle is not None:
            self.describe(ctx.workspace.bundle)

    def _content(self) -> QWidget:
        groups = QHBoxLayout()
        groups.setSpacing(10)
        groups.addWidget(self.summary["Model"], 5)
        groups.addWidget(self.summary["Audio"], 4)
        meta_box = QGroupBox("Metadata")
        QVBoxLayout(meta_box).addWidget(self.metadata_tree)
        groups.addWidget(meta_box, 5)
        stages = QGroupBox("Stages (one forward pass on one segment)")
        QVBoxLayout(stages).addWidget(self.table)
        self.stages_box = stages
        self.graph_box = QGroupBox("Graph: inputs, outputs and operators")
        self.graph = QLabel()
        self.graph.setWordWrap(True)
        self.graph.setTextFormat(Qt.TextFormat.RichText)
        self.graph.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        QVBoxLayout(self.graph_box).addWidget(self.graph)
        self.graph_box.hide()
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.setContentsMargins(12, 10, 12, 10)
        layout.setSpacing(8)
        layout.addWidget(self.quality)
        layout.addWidget(self.status)
        layout.addLayout(groups, 3)
        layout.addWidget(stages, 2)
        layout.addWidget(self.graph_box, 2)
        return page

    # -- workspace
    def workspace_changed(self, event: str, payload: Any) -> None:
        if event == "bundle" and payload is not None:
            self.describe(payload)
        elif event == "artifact":
            self.describe_artifact(payload)

    def describe_artifact(self, info: ArtifactInfo) -> None:
        """An exported file opened as the model: what the file says about itself (no
        forward pass: the file is not run to describe it)."""
        if self._job is not None and self._job.running:
            self._job.cancel()
        self._bundle, self.info, self.artifact = None, None, info
        self.stack.setCurrentIndex(1)
        self.quality.show_summary(quality_summary(info.metadata, info.sources))
        kind = "ONNX" if info.format == "onnx" else "TorchScript"
        nodes = f", {info.nodes:,} nodes" if info.nodes else ""
        self.status.setText(f"{info.path.name}: an exported {kind} model{nodes}, sources "
                            f"{', '.join(info.sources)}")
        for group, rows in artifact_rows(info).items():
            self.summary[group].show_rows(rows)
        self.metadata_tree.show_metadata(readable_metadata(info.metadata))
        self.graph.setText(graph_html(info))
        self.stages_box.hide()
        self.graph_box.show()

    def describe(self, bundle: ModelBundle) -> None:
        """Compute the summary of ``bundle`` in a worker; show it when it arrives."""
        if self._job is not None and self._job.running:
            self._job.cancel()
        self._bundle, self.artifact = bundle, None
        self.stack.setCurrentIndex(1)
        self.stages_box.show()
        self.graph_box.hide()
        self.quality.show_summary(quality_summary(bundle.metadata, bundle.audio.sources))
        self.status.setText(f"Describing {bundle.name}…")
        self._job = self.ctx.jobs.run(
            f"Describe model {bundle.name}", model_info, {"bundle": bundle},
            on_result=lambda info, b=bundle: self._described(b, info), log_done=False)

    def _described(self, bundle: ModelBundle, info: ModelInfo) -> None:
        if bundle is not self._bundle:      # a newer model was loaded meanwhile
            return
        self.info = info
        self.status.setText(f"{info.name}: {human_count(info.parameters)} parameters, "
                            f"{len(info.stages)} stages, sources {', '.join(info.sources)}")
        for group, rows in summary_rows(info).items():
            self.summary[group].show_rows(rows)
        self.metadata_tree.show_metadata(info.metadata)
        self.table.show_stages(info)

    def metadata_items(self) -> dict[str, str]:
        """Every metadata row as {"dotted.key": "shown value"} (for tests and tools)."""
        return self.metadata_tree.items()

    def stage_names(self) -> list[str]:
        return self.table.names()
