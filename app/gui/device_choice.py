"""The Device box of the status bar: where the Separate tab's jobs and the Memory tab's
measurement run. It offers Auto, the CPU, each CUDA GPU found and Apple's MPS when present
(:func:`app.core.devices.available_devices`) and remembers the choice in the settings; a
saved device that this machine no longer has (a GPU taken out, another computer) falls back
to Auto with a note."""

from __future__ import annotations

from typing import Optional

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QWidget

from ..core.devices import available_devices, describe_device, resolve_device
from .settings import Settings


def device_choices() -> list[tuple[str, str]]:
    """(label, device name) for each choice: Auto first, then the devices of this machine."""
    choices = [("Auto", "auto")]
    for name in available_devices():
        if name == "cpu":
            choices.append(("CPU", name))
        elif name == "mps":
            choices.append(("Apple GPU (MPS)", name))
        else:
            description = describe_device(resolve_device(name)).description
            choices.append((f"GPU {name.split(':')[1]}: {description}", name))
    return choices


class DeviceBox(QComboBox):
    """A combo box over :func:`device_choices`, kept in ``settings.device``. ``note`` is the
    line to show when the saved device is not here (empty otherwise)."""

    device_changed = Signal(str)

    def __init__(self, settings: Settings, parent: Optional[QWidget] = None):
        super().__init__(parent)
        self.settings = settings
        self.setToolTip("Where separation and the memory measurement run: Auto takes a GPU "
                        "when there is one, else the CPU")
        for label, name in device_choices():
            self.addItem(label, name)
        saved = settings.device
        index = self.findData(saved)
        self.note = ""
        if index < 0:
            here = ", ".join(self.itemData(i) for i in range(1, self.count()))
            self.note = (f"The saved device {saved} is not on this machine (devices here: "
                         f"{here}): using Auto")
            index = 0
        self.setCurrentIndex(index)
        self.currentIndexChanged.connect(self._chosen)

    @property
    def device(self) -> str:
        return str(self.currentData())

    def _chosen(self, _index: int) -> None:
        self.settings.device = self.device
        self.device_changed.emit(self.device)
