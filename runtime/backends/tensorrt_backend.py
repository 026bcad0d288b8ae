"""Native TensorRT backend: named I/O tensors, execute_async_v3, pinned buffers, one stream,
optional CUDA graph per batch size, zero-copy mapped memory on integrated GPUs (Jetson).

Runs on TensorRT 10.x (JetPack 6) and 11.x, full or lean runtime, with cuda-python.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from edgeiqa.runtime.backends.cuda_utils import HostDeviceBuffer, Stream, cuda_call, device_properties
from edgeiqa.runtime.bundle import ATTRIBUTES_NAME, INPUT_NAME, OUTPUT_NAME, Bundle, ModelEntry, verify_files
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
                                          "JetPack's python with --system-site-packages); with only the lean "
                                          "runtime (tensorrt_lean), build the engines with `edgeiqa engine "
                                          "--version-compatible` or `edgeiqa export --trt-version-compatible`") from err
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
                (e.tensorrt_version == trt_version or _loads_version_compatible(e, trt_version))]
    if not matching:
        built = ", ".join(f"sm{e.compute_capability}/TensorRT {e.tensorrt_version}" for e in engines)
        raise BundleError(f"the bundle's engines were built for {built}, this device is sm{compute_capability} with "
                          f"TensorRT {trt_version}: engines are not portable, rebuild with `edgeiqa export --trt` "
                          "on this device")
    order = {"fp16": 0, "int8": 1, "fp32": 2}
    return sorted(matching, key=lambda e: order.get(e.precision, 9))[0]


def _loads_version_compatible(entry: ModelEntry, trt_version: str) -> bool:
    """A version-compatible plan runs on its own TensorRT and later ones (10 -> 11, never back)."""
    if not entry.info.get("version_compatible") or not entry.tensorrt_version:
        return False
    release = lambda v: tuple(int(x) for x in str(v).split(".")[:2])  # noqa: E731
    return release(trt_version) >= release(entry.tensorrt_version)


class TensorRTBackend:
    name = "tensorrt"

    def __init__(self, bundle: Bundle, precision: str | None = None, device: int = 0, cuda_graph: bool = False,
                 verify: bool = True) -> None:
        trt = import_tensorrt()
        self.trt = trt
        props = device_properties(device)  # reads attributes only: no context exists yet
        cc = f"{props['major']}.{props['minor']}"
        self.entry = select_engine(bundle, trt.__version__, cc, precision)
        if verify:  # hash the engine this device will run, not every file of the bundle
            verify_files(bundle, only=[self.entry.file])
        self.precision = self.entry.precision
        self.device = props
        from edgeiqa.runtime.backends.cuda_utils import _cudart

        cudart = _cudart()
        # The device first: cudaSetDeviceFlags records its flags for the CURRENT device, so set
        # before it they would land on device 0 whatever `device` is (cuda:1 on a multi-GPU box).
        # Jetson: CPU and GPU share DRAM, so pinned host memory mapped into the GPU saves the copies;
        # the flag goes in before the runtime, the engine and the buffers below use the context.
        cuda_call(cudart.cudaSetDevice(device))
        self.mapped = bool(props["integrated"] and props["can_map_host_memory"])
        if self.mapped:
            cuda_call(cudart.cudaSetDeviceFlags(cudart.cudaDeviceMapHost))
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
        min_shape, _, max_shape = self.engine.get_tensor_profile_shape(INPUT_NAME, 0)
        self.min_batch, self.max_batch = int(min_shape[0]), int(max_shape[0])
        self.input_shape = tuple(int(d) for d in max_shape[1:])
        self.in_dtype = np.dtype(trt.nptype(self.engine.get_tensor_dtype(INPUT_NAME)))
        out_dtype = np.dtype(trt.nptype(self.engine.get_tensor_dtype(OUTPUT_NAME)))
        expected = np.dtype(np.uint8 if bundle.input["dtype"] == "uint8" else np.float32)
        if self.in_dtype != expected:
            raise BundleError(f"{self.entry.file} takes {self.in_dtype} input, the manifest says {expected}: "
                              "rebuild the engine from this bundle's ONNX")
        self.stream = Stream()
        self.inp = HostDeviceBuffer((self.max_batch, *self.input_shape), self.in_dtype, self.mapped)
        self.out = HostDeviceBuffer((self.max_batch,), out_dtype, self.mapped)
        # Every I/O tensor needs an address before enqueue: a bundle with attributes has a second output.
        self.attr = None
        if ATTRIBUTES_NAME in names:
            k = int(self.engine.get_tensor_shape(ATTRIBUTES_NAME)[-1])
            self.attr = HostDeviceBuffer((self.max_batch, k), np.dtype(trt.nptype(
                self.engine.get_tensor_dtype(ATTRIBUTES_NAME))), self.mapped)
        bound = [(INPUT_NAME, self.inp), (OUTPUT_NAME, self.out)]
        if self.attr is not None:
            bound.append((ATTRIBUTES_NAME, self.attr))
        for name, buf in bound:
            if not self.context.set_tensor_address(name, int(buf.device_ptr)):
                raise RuntimeError(f"TensorRT refused the address of {name!r}")
        self.use_cuda_graph = cuda_graph
        self._graphs: dict[int, Any] = {}
        self._events = (cuda_call(cudart.cudaEventCreate()), cuda_call(cudart.cudaEventCreate()))
        # Kernel time of the last run(): CUDA events recorded after the input's host-to-device copy
        # and before the scores' copy back, summed over chunks. `bench` reports it as device_p50_ms.
        self.last_device_s: float | None = None

    def _enqueue(self, n: int) -> None:
        if not self.context.set_input_shape(INPUT_NAME, (n, *self.input_shape)):
            raise RuntimeError(f"batch {n} is outside the engine's profile ({self.min_batch}..{self.max_batch})")
        if self.use_cuda_graph:
            graph = self._graphs.get(n) or self._capture(n)
            if graph is not None:
                cuda_call(self.stream.cudart.cudaGraphLaunch(graph, self.stream.handle))
                return
        if not self.context.execute_async_v3(self.stream.ptr):
            raise RuntimeError("TensorRT execute_async_v3 failed")

    def _capture(self, n: int) -> Any:
        """Record one enqueue as a CUDA graph (after a warm-up run, as TensorRT requires).

        A capture that fails or is invalidated (an engine that synchronises inside enqueue, say)
        falls back to plain execute_async_v3 with a warning: TENSORRT.md's prescribed recovery.
        """
        cudart = self.stream.cudart
        if not self.context.execute_async_v3(self.stream.ptr):
            raise RuntimeError("TensorRT execute_async_v3 failed")
        self.stream.synchronize()
        graph = None
        try:
            # Thread-local capture: a global-mode capture would fail CUDA calls that other threads of
            # a multi-camera process make meanwhile.
            cuda_call(cudart.cudaStreamBeginCapture(self.stream.handle,
                                                    cudart.cudaStreamCaptureMode.cudaStreamCaptureModeThreadLocal))
            ok = self.context.execute_async_v3(self.stream.ptr)
            graph = cuda_call(cudart.cudaStreamEndCapture(self.stream.handle))
            if not ok:
                raise RuntimeError("execute_async_v3 returned False during capture")
            self._graphs[n] = cuda_call(cudart.cudaGraphInstantiate(graph, 0))
            return self._graphs[n]
        except RuntimeError as err:
            cudart.cudaGetLastError()  # clear the sticky capture error
            warnings.warn(f"CUDA graph capture failed at batch {n} ({err}); running without CUDA graphs",
                          RuntimeWarning, stacklevel=3)
            self.use_cuda_graph = False
            return None
        finally:
            if graph is not None:
                cudart.cudaGraphDestroy(graph)

    def run(self, inputs: np.ndarray) -> np.ndarray:
        return self.run_with_attributes(inputs)[0]

    def run_with_attributes(self, inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Scores [N] and, when the engine has them, attributes [N, K]."""
        cudart = self.stream.cudart
        scores, attrs = [], []
        kernel_ms = 0.0
        if inputs.dtype != self.in_dtype or tuple(inputs.shape[1:]) != self.input_shape:
            raise ValueError(f"the engine takes {self.in_dtype} [N, {', '.join(map(str, self.input_shape))}], "
                             f"got {inputs.dtype} {list(inputs.shape)}")
        for start in range(0, len(inputs), self.max_batch):
            chunk = inputs[start:start + self.max_batch]
            n = len(chunk)
            m = max(n, self.min_batch)  # a short last batch is padded up to the profile's minimum
            self.inp.host[:n] = chunk
            if m > n:
                self.inp.host[n:m] = chunk[-1]
            self.inp.to_device(self.stream, m * chunk[0].nbytes)
            cuda_call(cudart.cudaEventRecord(self._events[0], self.stream.handle))
            self._enqueue(m)
            cuda_call(cudart.cudaEventRecord(self._events[1], self.stream.handle))
            self.out.to_host(self.stream, m * self.out.dtype.itemsize)
            if self.attr is not None:
                self.attr.to_host(self.stream, m * self.attr.host[0].nbytes)
            self.stream.synchronize()
            scores.append(self.out.host[:n].astype(np.float32).copy())
            if self.attr is not None:
                attrs.append(self.attr.host[:n].astype(np.float32).copy())
            kernel_ms += cuda_call(cudart.cudaEventElapsedTime(self._events[0], self._events[1]))  # synced above
        self.last_device_s = kernel_ms / 1e3
        out = np.concatenate(scores) if scores else np.zeros((0,), np.float32)
        return out, (np.concatenate(attrs) if attrs else None)

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
        if self.attr is not None:
            self.attr.free()
        self.stream.close()
