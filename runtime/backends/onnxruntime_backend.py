"""ONNX Runtime backend: TensorRT / CUDA execution providers when present, else the CPU."""

from __future__ import annotations

from typing import Any

import numpy as np
from edgeiqa.runtime.bundle import ATTRIBUTES_NAME, INPUT_NAME, OUTPUT_NAME, Bundle, ModelEntry
from edgeiqa.runtime.cache_root import cache_root
from edgeiqa.runtime.errors import BackendUnavailableError, BundleError

GPU_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider")


def available() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def choose_providers(available_providers: list[str], device: str) -> list[str]:
    """Preference order: TensorRT EP, CUDA EP, CPU - or the CPU alone when device == 'cpu'."""
    if device == "cpu":
        return ["CPUExecutionProvider"]
    chosen = [p for p in GPU_PROVIDERS if p in available_providers]
    if device.startswith("cuda") and not chosen:
        raise BackendUnavailableError("device cuda requested but this onnxruntime has no CUDA/TensorRT provider: "
                                      "pip install 'edgeiqa[gpu]' (onnxruntime-gpu)")
    return chosen + ["CPUExecutionProvider"]


def provider_options(provider: str, device: str) -> dict[str, str]:
    """The GPU index of "cuda:N" for the GPU providers; for the TensorRT provider, an engine and
    timing cache in the user's cache folder, so a restart does not rebuild the engine."""
    index = device.split(":", 1)[1] if device.startswith("cuda:") else "0"
    if provider == "CUDAExecutionProvider":
        return {"device_id": index}
    if provider == "TensorrtExecutionProvider":
        cache = str(cache_root("ort-trt"))
        return {"device_id": index, "trt_engine_cache_enable": "True", "trt_engine_cache_path": cache,
                "trt_timing_cache_enable": "True", "trt_timing_cache_path": cache}
    return {}


class OnnxRuntimeBackend:
    name = "onnxruntime"

    def __init__(self, bundle: Bundle, entry: ModelEntry, device: str = "auto", threads: int = 0,
                 inter_threads: int = 0) -> None:
        try:
            import onnxruntime as ort
        except ImportError as err:
            raise BackendUnavailableError("onnxruntime is not installed: pip install 'edgeiqa[cpu]' "
                                          "(or 'edgeiqa[gpu]')") from err
        self.precision = entry.precision
        self.entry = entry
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            opts.intra_op_num_threads = threads
        if inter_threads:
            opts.inter_op_num_threads = inter_threads
        self.providers = choose_providers(ort.get_available_providers(), device)
        options = [provider_options(p, device) for p in self.providers]
        try:
            self.session = ort.InferenceSession(str(bundle.file(entry)), opts, providers=self.providers,
                                                provider_options=options)
        except Exception as err:  # noqa: BLE001 - ORT raises its own exception types
            raise BundleError(f"{entry.file} could not be loaded by ONNX Runtime ({err}); re-export the bundle") \
                from err
        inputs = {i.name for i in self.session.get_inputs()}
        outputs = {o.name for o in self.session.get_outputs()}
        if INPUT_NAME not in inputs or OUTPUT_NAME not in outputs:
            raise BundleError(f"{entry.file} has inputs {sorted(inputs)} / outputs {sorted(outputs)}, expected "
                              f"{INPUT_NAME!r} -> {OUTPUT_NAME!r}; re-export the bundle")
        self.threads = threads
        self.outputs = [OUTPUT_NAME] + ([ATTRIBUTES_NAME] if ATTRIBUTES_NAME in outputs else [])
        self._on_gpu = self.session.get_providers()[0] in GPU_PROVIDERS

    def run(self, inputs: np.ndarray) -> np.ndarray:
        return self._run([OUTPUT_NAME], inputs)[0]

    def run_with_attributes(self, inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Scores [N] and, when the graph has them, attributes [N, K]."""
        out = self._run(self.outputs, inputs)
        return out[0], (out[1] if len(out) > 1 else None)

    def _run(self, names: list[str], inputs: np.ndarray) -> list[np.ndarray]:
        if self._on_gpu:
            # IO binding: the output stays put until we ask for it, saving one copy per call.
            binding = self.session.io_binding()
            binding.bind_cpu_input(INPUT_NAME, np.ascontiguousarray(inputs))
            for name in names:
                binding.bind_output(name)
            self.session.run_with_iobinding(binding)
            return binding.copy_outputs_to_cpu()
        return self.session.run(names, {INPUT_NAME: inputs})

    def synchronize(self) -> None:
        """session.run returns after the work is done: nothing queued."""

    def close(self) -> None:
        """Drop the session (ONNX Runtime frees its arena with it)."""
        self.session = None  # type: ignore[assignment]

    def describe(self) -> dict[str, Any]:
        import onnxruntime as ort

        return {"backend": self.name, "precision": self.precision, "file": self.entry.file,
                "providers": self.session.get_providers(), "onnxruntime": ort.__version__,
                "intra_op_threads": self.threads or "default"}
