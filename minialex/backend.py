"""Devices and array modules: where a tensor's numbers live.

minialex runs the same numeric code on NumPy (CPU) and CuPy (NVIDIA GPUs).
Each :class:`Device` names one place arrays can live and knows its array
module ``xp`` (``numpy`` or ``cupy``):

- ``"cpu"`` (the same device as ``"cpu:0"``), ``"cpu:1"``, ``"cpu:2"``, ...
  are *logical* CPU devices. All are backed by NumPy, but minialex treats
  them as distinct: an op whose inputs live on ``cpu:0`` and ``cpu:1``
  raises :class:`DeviceMismatchError`, exactly as it would for two GPUs.
  This lets the two-tower AlexNet (paper section 3.2) be placed and tested
  on a machine without GPUs.
- ``"cuda:0"``, ``"cuda:1"``, ... are GPUs through CuPy, imported lazily the
  first time a CUDA device is asked for. ``"cuda"`` means ``"cuda:0"``.

Using a device as a context manager (``with device: ...``) makes it CuPy's
current device for the block (a no-op on the CPU); minialex runs every
forward and backward pass of an op inside its inputs' device context.

Transfers between devices are explicit (``Tensor.to``) and can be recorded
with :func:`record_transfers` (used to check which layers of the two-tower
net cross between towers).
"""

import contextlib
import re

import numpy

__all__ = [
    "Device", "DeviceMismatchError", "CudaUnavailableError", "get_device",
    "get_array_module", "record_transfers", "cupy_available",
]

_DEVICE_RE = re.compile(r"^(cpu|cuda)(?::(\d+))?$")
_cupy = None


class DeviceMismatchError(RuntimeError):
    """Raised when one op gets inputs that live on different devices."""


class CudaUnavailableError(RuntimeError):
    """Raised when a CUDA device is asked for but CuPy or the GPU is missing."""


def _import_cupy():
    """Import CuPy on first use; raise a helpful error if it is missing."""
    global _cupy
    if _cupy is None:
        try:
            import cupy  # noqa: WPS433 (lazy optional import)
        except ImportError as exc:
            raise CudaUnavailableError(
                "a CUDA device was requested but CuPy is not installed. "
                "Install the GPU extra (pip install -e \".[gpu]\", which brings "
                "cupy-cuda12x; use cupy-cuda13x on CUDA 13; `nvidia-smi` shows "
                "the driver's CUDA version), or pass "
                "device='cpu' (or 'cpu:0', 'cpu:1' for two logical towers)."
            ) from exc
        _cupy = cupy
    return _cupy


def cupy_available():
    """True if CuPy imports and sees at least one GPU (never raises)."""
    try:
        cp = _import_cupy()
        return cp.cuda.runtime.getDeviceCount() > 0
    except Exception:  # noqa: BLE001 (any failure means "no GPU here")
        return False


class Device:
    """A place where arrays live: ``Device("cpu")``, ``Device("cpu:1")``,
    ``Device("cuda:0")``.

    Args:
        spec: a string ``"cpu"``, ``"cpu:<i>"``, ``"cuda"`` or ``"cuda:<i>"``,
            or another :class:`Device` (returned as is by :func:`get_device`).

    Attributes:
        type: ``"cpu"`` or ``"cuda"``.
        index: int, the device number (0 for plain ``"cpu"``/``"cuda"``).
        xp: the array module, ``numpy`` or ``cupy``.

    Raises:
        ValueError: the string is not a device name.
        CudaUnavailableError: a CUDA device without CuPy, or a GPU index that
            is not present on this machine.
    """

    __slots__ = ("type", "index", "xp", "_ctx")

    def __init__(self, spec):
        if isinstance(spec, Device):
            self.type, self.index, self.xp = spec.type, spec.index, spec.xp
            return
        m = _DEVICE_RE.match(str(spec).strip()) if isinstance(spec, str) else None
        if m is None:
            raise ValueError(
                f"unknown device {spec!r}: use 'cpu', 'cpu:<i>' (logical CPU "
                "devices backed by NumPy) or 'cuda:<i>' (GPU through CuPy)")
        self.type = m.group(1)
        self.index = int(m.group(2) or 0)
        if self.type == "cpu":
            self.xp = numpy
        else:
            cp = _import_cupy()
            try:
                count = cp.cuda.runtime.getDeviceCount()
            except Exception as exc:  # noqa: BLE001
                raise CudaUnavailableError(
                    f"device {spec!r} requested but CUDA is not usable here "
                    f"({exc}); check that there is an NVIDIA driver and that the "
                    "CuPy wheel matches its CUDA version (cupy-cuda12x for CUDA "
                    "12.x, cupy-cuda13x for 13.x; `nvidia-smi` shows it), or pass "
                    "device='cpu' instead") from exc
            if count == 0:
                raise CudaUnavailableError(
                    f"device {spec!r} requested but CuPy sees no GPU (is "
                    "CUDA_VISIBLE_DEVICES empty?); pass device='cpu' instead")
            if self.index >= count:
                raise CudaUnavailableError(
                    f"device {spec!r} requested but this machine has {count} "
                    f"GPU(s) (cuda:0..cuda:{count - 1}); pass an existing GPU "
                    "or 'cpu:<i>' for a logical CPU device")
            self.xp = cp

    def __eq__(self, other):
        if isinstance(other, str):
            try:
                other = Device(other)
            except (ValueError, CudaUnavailableError):
                return False
        return (isinstance(other, Device) and self.type == other.type
                and self.index == other.index)

    def __hash__(self):
        return hash((self.type, self.index))

    def __str__(self):
        return f"{self.type}:{self.index}"

    def __repr__(self):
        return f"Device('{self}')"

    def __enter__(self):
        if self.type == "cuda":
            if not hasattr(self, "_ctx"):
                self._ctx = []
            ctx = self.xp.cuda.Device(self.index)
            ctx.__enter__()
            self._ctx.append(ctx)
        return self

    def __exit__(self, *exc):
        if self.type == "cuda":
            self._ctx.pop().__exit__(*exc)
        return False

    def put(self, array):
        """Return ``array`` as an array of this device's module (copying if
        it lives elsewhere). NumPy arrays are returned as they are on CPU."""
        if self.type == "cpu":
            if _cupy is not None and isinstance(array, _cupy.ndarray):
                return _cupy.asnumpy(array)
            return numpy.asarray(array)
        with self:
            if isinstance(array, self.xp.ndarray):
                if array.device.id == self.index:
                    return array
                return array.copy()  # CuPy copies onto the current device
            return self.xp.asarray(array)


_CPU = Device("cpu")


def get_device(spec=None):
    """Turn ``None`` (the default, ``cpu``), a string or a Device into a Device."""
    if spec is None:
        return _CPU
    if isinstance(spec, Device):
        return spec
    return Device(spec)


def get_array_module(array):
    """Return ``numpy`` or ``cupy``, whichever owns ``array``."""
    if _cupy is not None and isinstance(array, _cupy.ndarray):
        return _cupy
    return numpy


def device_of_array(array):
    """The physical device of an ndarray: ``cuda:<i>`` for CuPy, else ``cpu``.
    (Logical CPU devices cannot be read off a NumPy array; tensors carry them.)"""
    if _cupy is not None and isinstance(array, _cupy.ndarray):
        return Device(f"cuda:{array.device.id}")
    return _CPU


# ---------------------------------------------------------------- transfers
_transfer_logs = []


@contextlib.contextmanager
def record_transfers():
    """Record every device-to-device copy made by ``Tensor.to`` in the block.

    Yields a list that fills with dicts ``{"src": str, "dst": str,
    "shape": tuple, "direction": "forward"|"backward", "tag": str|None}``.
    Copies to the same device are not transfers and are not recorded.
    """
    log = []
    _transfer_logs.append(log)
    try:
        yield log
    finally:
        _transfer_logs.remove(log)


def _log_transfer(src, dst, shape, direction, tag):
    for log in _transfer_logs:
        log.append({"src": str(src), "dst": str(dst), "shape": tuple(shape),
                    "direction": direction, "tag": tag})
