"""The tab registry: :data:`TABS` lists the main window's tabs, in the order shown.

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
``panels.py`` with its widgets, ``__init__.py`` exporting the tab) and insert its class below
in DESIGN.md's order: Model, Memory, Export, Quantize, Benchmark, Separate. The window numbers
tabs in this order for Ctrl+1..9.
"""

from __future__ import annotations

from .base import SingleJobTab, Tab, TabContext, WindowHooks
from .benchmark import BenchmarkTab
from .export import ExportTab
from .memory import MemoryTab
from .model import ModelTab
from .quantize import QuantizeTab
from .separate import SeparateTab

TABS: list[type[Tab]] = [
    ModelTab,
    MemoryTab,
    ExportTab,
    QuantizeTab,
    BenchmarkTab,
    SeparateTab,
]

__all__ = ["TABS", "SingleJobTab", "Tab", "TabContext", "WindowHooks"]
