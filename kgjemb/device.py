"""Which device computes: ``--device auto|cpu|cuda``, resolved once, in one place.

``auto`` means CUDA when the NVIDIA driver reports a device, else CPU; ``cuda`` insists
(a :class:`~kgjemb.errors.DeviceError` when there is none); ``cpu`` never touches a GPU.
The probe asks the driver (``libcuda``) directly, so resolving a device imports neither
torch nor FAISS: a query answered on the CPU does not pay for them.

Commands resolve their ``--device`` and make it the process default
(:func:`set_default_device`, kept in ``$KGJEMB_DEVICE`` so that worker processes inherit
it); library parts given no explicit device (the model loader, the FAISS index, the ONNX
text encoder) ask :func:`default_device`.

>>> resolve_device("cpu")
'cpu'
>>> resolve_device(Device.auto) in ("cpu", "cuda")
True
"""
from __future__ import annotations

import ctypes
import functools
import os
from enum import Enum

from kgjemb.errors import DeviceError

__all__ = ["DEVICE_ENV", "Device", "cuda_available", "default_device", "resolve_device", "set_default_device"]

#: environment variable holding the process default (auto, cpu or cuda)
DEVICE_ENV = "KGJEMB_DEVICE"


class Device(str, Enum):
    """The ``--device`` choices."""

    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


@functools.lru_cache(maxsize=1)
def cuda_available() -> bool:
    """True when the CUDA driver loads and reports at least one device (honours
    ``CUDA_VISIBLE_DEVICES``). Asked once per process."""
    try:
        lib = ctypes.CDLL("libcuda.so.1")
    except OSError:
        return False
    count = ctypes.c_int(0)
    try:
        return lib.cuInit(0) == 0 and lib.cuDeviceGetCount(ctypes.byref(count)) == 0 and count.value > 0
    except AttributeError:  # not the real driver
        return False


def resolve_device(choice: Device | str | None = None) -> str:
    """``"cpu"`` or ``"cuda"`` for a ``--device`` choice (None: the process default).

    Raises :class:`DeviceError` for ``cuda`` without a CUDA device and for a name that is
    not a choice (the message lists the choices).
    """
    if choice is None:
        choice = os.environ.get(DEVICE_ENV) or Device.auto
    try:
        choice = Device(getattr(choice, "value", choice))
    except ValueError as err:
        raise DeviceError(f"unknown device {choice!r}; choose from {[d.value for d in Device]}") from err
    if choice is Device.cpu:
        return "cpu"
    if cuda_available():
        return "cuda"
    if choice is Device.cuda:
        raise DeviceError("--device cuda: no CUDA device is visible (no NVIDIA driver, or CUDA_VISIBLE_DEVICES hides it)")
    return "cpu"


def set_default_device(choice: Device | str) -> str:
    """Resolve ``choice`` and make it the process default (inherited by worker processes);
    returns the resolved device."""
    resolved = resolve_device(choice)
    os.environ[DEVICE_ENV] = resolved
    return resolved


def default_device() -> str:
    """The process default, resolved: ``$KGJEMB_DEVICE`` when a command set it, else auto."""
    return resolve_device(None)
