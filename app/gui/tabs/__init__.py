"""The tab registry: :data:`TAB_ENTRIES` lists the main window's tabs, in the order shown;
:func:`load_tabs` gives their classes.

Contract for a tab (what the main window relies on; other tabs follow it too):

* A tab is a ``QWidget`` subclass, normally of :class:`~app.gui.tabs.base.Tab`, with class
  attributes ``title`` (the tab's label, unique, also its settings namespace) and
  ``tooltip``. The window constructs it as ``TabClass(ctx)`` with one
  :class:`~app.gui.tabs.base.TabContext`:

  - ``ctx.workspace``: the :class:`~app.core.workspace.Workspace`, the single source of
    truth. Read the loaded bundle and its variants from it; add what the tab makes
    (``workspace.add_variant(Variant(...))``, ``workspace.update_figures(...)``). Never pass
    files to another tab directly.
  - ``ctx.events.changed(event, payload)``: workspace changes as a Qt signal, delivered in
    the UI thread ("bundle", "variant", "variant-updated"). ``Tab`` connects it to
    :meth:`~app.gui.tabs.base.Tab.workspace_changed`; override that.
  - ``ctx.jobs``: :class:`~app.gui.jobs.JobManager`. All computation goes through
    ``ctx.jobs.run(title, core_fn, kwargs, on_result=..., on_error=...)``, which runs the
    core function on a worker thread with ``progress``/``cancel`` and lists it in the Jobs
    dock with a Cancel button. The UI thread never computes. Errors a tab does not handle
    are shown by the window.
  - ``ctx.settings``: :class:`~app.gui.settings.Settings`; tab values via
    ``Tab.setting(key)`` / ``Tab.set_setting(key, value)`` (stored under ``tabs/<title>/``).
  - ``ctx.window``: hooks into the main window (:class:`~app.gui.tabs.base.WindowHooks`):
    ``open_checkpoint_dialog()``, ``open_checkpoint(path)``, ``open_audio_dialog()``,
    ``show_error(title, detail)`` (non-blocking banner), ``show_message(text)``,
    ``threads()`` (the CPU threads chosen in the status bar), ``device()`` (the device
    chosen there: "auto", "cpu", "cuda:N", "mps") and ``cache_dir(name)`` (a
    folder in the session's temporary directory, deleted when the app closes).

* With no model loaded (``ctx.workspace.bundle is None``) a tab says so and how to open one,
  and disables what needs a model.
* Optional: ``open_audio(path)``; audio files dropped on the window or chosen with
  File ▸ Open audio… go to the first tab that has it (the Separate tab).
* Optional: override :meth:`~app.gui.tabs.base.Tab.shutdown` to stop players or timers when
  the window closes (running jobs are cancelled by the window).
* Keyboard shortcuts specific to a tab are ``QAction``\\ s added to the tab itself with
  ``Qt.WindowShortcut`` context, so they work only while the tab is shown.

* Widgets: a tab assembles panels (``QWidget`` subclasses in its package's ``panels.py``)
  that show what they are given and report what the user did through signals; the tab keeps
  the state, connects the signals and starts the jobs. No mixin sets attributes on the tab.
  A tab that runs one job at a time derives from :class:`~app.gui.tabs.base.SingleJobTab`
  and sets ``self.progress_bar`` to the bar its panels show.

Adding a tab: create the package ``app/gui/tabs/<name>/`` (``tab.py`` with the tab class,
``panels.py`` with its widgets, ``__init__.py`` exporting the tab) and add a :class:`TabEntry`
for it to :data:`TAB_ENTRIES` below, in DESIGN.md's order: Model, Memory, Export, Quantize,
Benchmark, Separate. The window numbers tabs in this order for Ctrl+1..9. A tab that needs
PyTorch says what for in ``needs``: where PyTorch is installed the window builds it when it is
first shown; where PyTorch is missing (the slim runtime) its package is never imported and
the window shows a tab that says what to install instead.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from ...core.devices import torch_available
from .base import SingleJobTab, Tab, TabContext, WindowHooks
from .needs_torch import needs_torch_tab


@dataclass(frozen=True)
class TabEntry:
    """A tab by name: its package is imported only when the window is built, and a tab that
    needs PyTorch only when it is first shown, so the window opens without importing torch."""
    title: str
    package: str                  # below app.gui.tabs
    class_name: str
    needs: str = ""               # what the tab does that needs PyTorch (for the slim runtime)


TAB_ENTRIES: tuple[TabEntry, ...] = (
    TabEntry("Model", "model", "ModelTab"),
    TabEntry("Memory", "memory", "MemoryTab",
             "measures the training memory of a checkpoint and plans gradient checkpointing"),
    TabEntry("Export", "export", "ExportTab",
             "exports a checkpoint to ONNX or TorchScript and verifies it against PyTorch"),
    TabEntry("Quantize", "quantize", "QuantizeTab",
             "quantizes a checkpoint (INT8 dynamic or static, FP16, quantization-aware "
             "training) and measures what it costs in SDR"),
    TabEntry("Benchmark", "benchmark", "BenchmarkTab"),
    TabEntry("Separate", "separate", "SeparateTab"),
)


def load_tab(entry: TabEntry) -> type[Tab]:
    """The tab's class. A tab that needs PyTorch is not imported here (importing PyTorch
    takes a second or more): where PyTorch is installed it becomes a :class:`DeferredTab`
    that the window replaces with the real tab when it is first shown or asked for; where it
    is missing (the slim runtime), a tab of the same title that says what to install."""
    if entry.needs:
        if not torch_available():
            return needs_torch_tab(entry.title, entry.needs)
        return deferred_tab(entry)
    return import_tab(entry)


def import_tab(entry: TabEntry) -> type[Tab]:
    module = importlib.import_module(f"{__name__}.{entry.package}")
    return getattr(module, entry.class_name)


class DeferredTab(Tab):
    """Stands in the tab bar for a tab not built yet; :meth:`load` imports the real one."""

    entry: TabEntry

    @classmethod
    def load(cls) -> type[Tab]:
        return import_tab(cls.entry)


def deferred_tab(entry: TabEntry) -> type[DeferredTab]:
    return type(f"Deferred{entry.class_name}", (DeferredTab,), {
        "title": entry.title, "entry": entry,
        "tooltip": entry.needs[:1].upper() + entry.needs[1:]})


def load_tabs() -> list[type[Tab]]:
    """The main window's tabs, in the order shown."""
    return [load_tab(entry) for entry in TAB_ENTRIES]



__all__ = ["TAB_ENTRIES", "DeferredTab", "TabEntry", "load_tab", "load_tabs", "SingleJobTab", "Tab",
           "TabContext", "WindowHooks"]
