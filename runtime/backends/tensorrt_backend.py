"""Native TensorRT backend: named I/O tensors, execute_async_v3, pinned buffers, one stream,
optional CUDA graph per batch size, zero-copy mapped memory on integrated GPUs (Jetson).

Runs on TensorRT 10.x (JetPack 6) and 11.x, full or lean runtime, with cuda-python.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from edgeiqa.runtime.backends.cuda_utils import HostDeviceBuffer, Stream, cuda_call, device_properties
from edgeiqa.runtime.bundle import INPUT_NAME, OUTPUT_NAME, Bundle, ModelEntry
from edgeiqa.runtime.errors import BackendUnavailableError, BundleError


def import_tensorrt() -> Any:
    """The full module, else the lean runtime (which deserialises version-compatible plans)."""
    try:
        import tensorrt as trt
    except ImportError:
        try:
            import tensorrt_lean as trt
        except ImportError as err:
            raise BackendUnavailableError("TensorRT is not installed: pip install 'edgeiqa[trt]' (on Jetson use "
                                          "JetPack's python with --system-site-packages)") from err
    return trt


def available() -> bool:
    try:
        import_tensorrt()
        device_properties(0)
    except (BackendUnavailableError, RuntimeError, ImportError):
        return False
    return True


def select_engine(bundle: Bundle, trt_version: str, compute_capability: str, precision: str | None) -> ModelEntry:
    """The engine built for this GPU and TensorRT version, or an error that says to rebuild."""
    engines = bundle.find("tensorrt", precision)
    if not engines:
        raise BundleError(f"{bundle.path} has no TensorRT engine{' of precision ' + precision if precision else ''}; "
                          "build one on this device: edgeiqa export CHECKPOINT --out BUNDLE --trt")
    matching = [e for e in engines if e.compute_capability == compute_capability and
                e.tensorrt_version == trt_version]
    if not matching:
        built = ", ".join(f"sm{e.compute_capability}/TensorRT {e.tensorrt_version}" for e in engines)
        raise BundleError(f"the bundle's engines were built for {built}, this device is sm{compute_capability} with "
                          f"TensorRT {trt_version}: engines are not portable, rebuild with `edgeiqa export --trt` "
                          "on this device")
    order = {"fp16": 0, "int8": 1, "fp32": 2}
    return sorted(matching, key=lambda e: order.get(e.precision, 9))[0]


class TensorRTBackend:
    name = "tensorrt"

    def __init__(self, bundle: Bundle, precision: str | None = None, device: int = 0, cuda_graph: bool = False) -> None:
        trt = import_tensorrt()
        self.trt = trt
        props = device_properties(device)
        cc = f"{props['major']}.{props['minor']}"
        self.entry = select_engine(bundle, trt.__version__, cc, precision)
        self.precision = self.entry.precision
        self.device = props
        self.logger = trt.Logger(trt.Logger.WARNING)
        self.runtime = trt.Runtime(self.logger)
        if hasattr(self.runtime, "engine_host_code_allowed"):
            self.runtime.engine_host_code_allowed = True  # version-compatible plans embed a lean runtime
        self.engine = self.runtime.deserialize_cuda_engine(bundle.file(self.entry).read_bytes())
        if self.engine is None:
            raise BundleError(f"TensorRT could not deserialise {self.entry.file} (see the TensorRT log above); "
                              "rebuild with `edgeiqa export --trt` on this device")
        self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        if INPUT_NAME not in names or OUTPUT_NAME not in names:
            raise BundleError(f"{self.entry.file} has tensors {names}, expected {INPUT_NAME!r} and {OUTPUT_NAME!r}")
        _, _, max_shape = self.engine.get_tensor_profile_shape(INPUT_NAME, 0)
        self.max_batch = int(max_shape[0])
        self.input_shape = tuple(int(d) for d in max_shape[1:])
        in_dtype = np.dtype(trt.nptype(self.engine.get_tensor_dtype(INPUT_NAME)))
        out_dtype = np.dtype(trt.nptype(self.engine.get_tensor_dtype(OUTPUT_NAME)))
        mapped = props["integrated"] and props["can_map_host_memory"]  # Jetson: CPU and GPU share DRAM
        if mapped:
            from edgeiqa.runtime.backends.cuda_utils import _cudart

            cudart = _cudart()
            cuda_call(cudart.cudaSetDeviceFlags(cudart.cudaDeviceMapHost))
        self.stream = Stream()
        self.inp = HostDeviceBuffer((self.max_batch, *self.input_shape), in_dtype, mapped)
        self.out = HostDeviceBuffer((self.max_batch,), out_dtype, mapped)
        self.context.set_tensor_address(INPUT_NAME, int(self.inp.device_ptr))
        self.context.set_tensor_address(OUTPUT_NAME, int(self.out.device_ptr))
        self.use_cuda_graph = cuda_graph
        self._graphs: dict[int, Any] = {}
        self.mapped = mapped
        cudart = self.stream.cudart
        self._events = (cuda_call(cudart.cudaEventCreate()), cuda_call(cudart.cudaEventCreate()))
        self.last_device_s: float | None = None  # device time of the last run(), from CUDA events

    def _enqueue(self, n: int) -> None:
        if not self.context.set_input_shape(INPUT_NAME, (n, *self.input_shape)):
            raise RuntimeError(f"batch {n} is outside the engine's profile (max {self.max_batch})")
        if self.use_cuda_graph:
            graph = self._graphs.get(n) or self._capture(n)
            if graph is not None:
                cuda_call(self.stream.cudart.cudaGraphLaunch(graph, self.stream.handle))
                return
        if not self.context.execute_async_v3(self.stream.handle):
            raise RuntimeError("TensorRT execute_async_v3 failed")

    def _capture(self, n: int) -> Any:
        """Record one enqueue as a CUDA graph (after a warm-up run, as TensorRT requires)."""
        cudart = self.stream.cudart
        self.context.execute_async_v3(self.stream.handle)
        self.stream.synchronize()
        cuda_call(cudart.cudaStreamBeginCapture(self.stream.handle,
                                                cudart.cudaStreamCaptureMode.cudaStreamCaptureModeGlobal))
        ok = self.context.execute_async_v3(self.stream.handle)
        graph = cuda_call(cudart.cudaStreamEndCapture(self.stream.handle))
        if not ok:
            cuda_call(cudart.cudaGraphDestroy(graph))
            cudart.cudaGetLastError()
            self.use_cuda_graph = False
            return None
        self._graphs[n] = cuda_call(cudart.cudaGraphInstantiate(graph, 0))
        cuda_call(cudart.cudaGraphDestroy(graph))
        return self._graphs[n]

    def run(self, inputs: np.ndarray) -> np.ndarray:
        cudart = self.stream.cudart
        scores = []
        cuda_call(cudart.cudaEventRecord(self._events[0], self.stream.handle))
        for start in range(0, len(inputs), self.max_batch):
            chunk = inputs[start:start + self.max_batch]
            n = len(chunk)
            self.inp.host[:n] = chunk
            self.inp.to_device(self.stream, chunk.nbytes)
            self._enqueue(n)
            self.out.to_host(self.stream, n * self.out.dtype.itemsize)
            self.stream.synchronize()
            scores.append(self.out.host[:n].astype(np.float32).copy())
        cuda_call(cudart.cudaEventRecord(self._events[1], self.stream.handle))
        cuda_call(cudart.cudaEventSynchronize(self._events[1]))
        self.last_device_s = cuda_call(cudart.cudaEventElapsedTime(self._events[0], self._events[1])) / 1e3
        return np.concatenate(scores) if scores else np.zeros((0,), np.float32)

    def synchronize(self) -> None:
        self.stream.synchronize()

    def describe(self) -> dict[str, Any]:
        return {"backend": self.name, "precision": self.precision, "file": self.entry.file,
                "tensorrt": self.trt.__version__, "device": self.device["name"],
                "compute_capability": f"{self.device['major']}.{self.device['minor']}",
                "zero_copy": self.mapped, "cuda_graph": self.use_cuda_graph, "max_batch": self.max_batch}

    def close(self) -> None:
        for g in self._graphs.values():
            cuda_call(self.stream.cudart.cudaGraphExecDestroy(g))
        self._graphs.clear()
        for event in self._events:
            cuda_call(self.stream.cudart.cudaEventDestroy(event))
        self.inp.free()
        self.out.free()
        self.stream.close()
