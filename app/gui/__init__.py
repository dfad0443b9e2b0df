"""The desktop app (PySide6 + pyqtgraph): windows, tabs, widgets and the worker adapter.

Qt lives only here. Every computation is a core function run through
:class:`app.gui.worker.Worker`; the UI thread only shows results.
"""
