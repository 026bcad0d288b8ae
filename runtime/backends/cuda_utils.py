"""cuda-python in one place: one error checker, owning buffers, a stream (NVIDIA samples' shape).

Every CUDA runtime call returns (error, *values); `cuda_call` raises on error with the error's
name and unwraps the rest. Buffers free themselves. Imported only where a GPU path is taken.
"""

from __future__ import annotations

import ctypes
from typing import Any

import numpy as np
from edgeiqa.runtime.errors import BackendUnavailableError


def _cudart() -> Any:
    try:
        from cuda.bindings import runtime as cudart  # cuda-python >= 12.6.1
    except ImportError:
        try:
            from cuda import cudart  # older cuda-python; removed in cuda-bindings 13
        except ImportError as err:
            raise BackendUnavailableError("cuda-python is not installed: pip install 'edgeiqa[trt]'") from err
    return cudart


def cuda_call(result: Any) -> Any:
    """Unwrap a cuda-python (err, *values) tuple; raise RuntimeError naming the error."""
    cudart = _cudart()
    err, *values = result if isinstance(result, tuple) else (result,)
    if int(getattr(err, "value", err)) != 0:
        name = cudart.cudaGetErrorName(err)[1]
        raise RuntimeError(f"CUDA error {name.decode() if isinstance(name, bytes) else name}")
    if not values:
        return None
    return values[0] if len(values) == 1 else tuple(values)


def bindings_major() -> int | None:
    """Major version of the installed cuda-python bindings (12 or 13), or None when unknown."""
    try:
        from importlib.metadata import version

        for dist in ("cuda-bindings", "cuda-python"):
            try:
                return int(version(dist).split(".")[0])
            except Exception:  # noqa: BLE001 - not installed under this name
                continue
    except ImportError:
        pass
    return None


def driver_mismatch(driver_version: int, bindings: int | None) -> str | None:
    """A message when cuda-python's major is newer than the CUDA the driver supports, else None.

    cudaDriverGetVersion gives 1000 * major + 10 * minor (12060 = CUDA 12.6, JetPack 6)."""
    major, minor = driver_version // 1000, (driver_version % 1000) // 10
    if bindings is None or bindings <= major:
        return None
    return (f"cuda-python {bindings}.x needs a CUDA {bindings} driver, and this driver supports CUDA {major}.{minor}: "
            f"install the matching pair, pip install 'edgeiqa[trt]' (TensorRT 10 + cuda-python 12, CUDA 12 drivers and "
            f"JetPack 6) or 'edgeiqa[trt-cu13]' (CUDA 13 drivers)")


def device_properties(device: int = 0) -> dict[str, Any]:
    cudart = _cudart()
    try:
        count = cuda_call(cudart.cudaGetDeviceCount())
    except RuntimeError as err:
        try:
            message = driver_mismatch(int(cuda_call(cudart.cudaDriverGetVersion())), bindings_major())
        except RuntimeError:
            message = None
        raise BackendUnavailableError(message or f"no usable CUDA device ({err})") from err
    if count < 1 or device >= count:
        raise BackendUnavailableError(f"no CUDA device {device} (found {count})")
    props = cuda_call(cudart.cudaGetDeviceProperties(device))
    integrated = cuda_call(cudart.cudaDeviceGetAttribute(cudart.cudaDeviceAttr.cudaDevAttrIntegrated, device))
    name = props.name.decode(errors="replace").rstrip("\x00") if isinstance(props.name, bytes) else str(props.name)
    return {"name": name, "major": int(props.major), "minor": int(props.minor), "integrated": bool(integrated),
            "can_map_host_memory": bool(props.canMapHostMemory), "total_memory": int(props.totalGlobalMem)}


class Stream:
    def __init__(self) -> None:
        self.cudart = _cudart()
        self.handle = cuda_call(self.cudart.cudaStreamCreate())

    @property
    def ptr(self) -> int:
        """The stream as the integer TensorRT's execute_async_v3 takes. cuda-bindings 13 deprecates
        int(stream); its utils.get_cuda_native_handle is the documented way."""
        try:
            from cuda.bindings.utils import get_cuda_native_handle

            return int(get_cuda_native_handle(self.handle))
        except ImportError:
            return int(self.handle)

    def synchronize(self) -> None:
        cuda_call(self.cudart.cudaStreamSynchronize(self.handle))

    def close(self) -> None:
        if self.handle is not None:
            cuda_call(self.cudart.cudaStreamDestroy(self.handle))
            self.handle = None

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown: nothing left to report to
            pass


class HostDeviceBuffer:
    """A pinned host array and its device twin; with `mapped` (Jetson), one zero-copy allocation."""

    def __init__(self, shape: tuple[int, ...], dtype: np.dtype, mapped: bool = False) -> None:
        self.cudart = _cudart()
        self.dtype = np.dtype(dtype)
        self.nbytes = int(np.prod(shape)) * self.dtype.itemsize
        self.mapped = mapped
        if mapped:
            self.host_ptr = cuda_call(self.cudart.cudaHostAlloc(self.nbytes, self.cudart.cudaHostAllocMapped))
            self.device_ptr = cuda_call(self.cudart.cudaHostGetDevicePointer(self.host_ptr, 0))
        else:
            self.host_ptr = cuda_call(self.cudart.cudaMallocHost(self.nbytes))
            self.device_ptr = cuda_call(self.cudart.cudaMalloc(self.nbytes))
        ctype = np.ctypeslib.as_ctypes_type(self.dtype)
        pointer = ctypes.cast(int(self.host_ptr), ctypes.POINTER(ctype))
        flat = np.ctypeslib.as_array(pointer, (self.nbytes // self.dtype.itemsize,))
        self.host = flat.reshape(shape)

    def to_device(self, stream: Stream, nbytes: int | None = None) -> None:
        if not self.mapped:
            cuda_call(self.cudart.cudaMemcpyAsync(self.device_ptr, self.host_ptr, nbytes or self.nbytes,
                                                  self.cudart.cudaMemcpyKind.cudaMemcpyHostToDevice, stream.handle))

    def to_host(self, stream: Stream, nbytes: int | None = None) -> None:
        if not self.mapped:
            cuda_call(self.cudart.cudaMemcpyAsync(self.host_ptr, self.device_ptr, nbytes or self.nbytes,
                                                  self.cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost, stream.handle))

    def free(self) -> None:
        if self.host_ptr is None:
            return
        cuda_call(self.cudart.cudaFreeHost(self.host_ptr))
        if not self.mapped:
            cuda_call(self.cudart.cudaFree(self.device_ptr))
        self.host_ptr = self.device_ptr = None

    def __del__(self) -> None:
        try:
            self.free()
        except Exception:  # noqa: BLE001
            pass
