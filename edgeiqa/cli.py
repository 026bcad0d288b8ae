"""The `edgeiqa` command: dispatches to each stage's CLI, importing the stage only when asked.

The runtime must run where torch is absent, so nothing here imports a stage at module level.
"""

from __future__ import annotations

import importlib
import sys

from edgeiqa import __version__

# command -> (module with a `main_<command>(argv)` function, extra that provides it, summary)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "train": ("edgeiqa.train.cli", "train", "fine-tune a backbone + head on an IQA dataset"),
    "predict": ("edgeiqa.train.cli", "train", "score images with a PyTorch checkpoint"),
    "data": ("edgeiqa.train.data.cli", "train", "check a dataset copy or build the synthetic set"),
    "protocol": ("edgeiqa.train.protocol_cli", "train", "seeds x heads x datasets grid, one table"),
    "analyze": ("edgeiqa.train.analysis_cli", "train", "Grad-CAM, t-SNE and gate histograms (PNG)"),
    "export": ("edgeiqa.export.cli", "export", "fold the head, write ONNX / TensorRT bundle"),
    "derive": ("edgeiqa.export.device_cli", "derive", "a camera (NV12/I420 at a frame size) variant of a bundle"),
    "quantize": ("edgeiqa.export.device_cli", "derive", "fp16 / int8 graphs into a copy of a bundle (from fp32)"),
    "engine": ("edgeiqa.export.device_cli", "derive", "TensorRT engines into a bundle, each verified (on the GPU)"),
    "score": ("edgeiqa.runtime.cli", "cpu", "score images with a bundle (no torch)"),
    "bench": ("edgeiqa.runtime.bench_cli", "cpu", "latency / throughput of a bundle"),
    "info": ("edgeiqa.runtime.cli", "cpu", "print a bundle's manifest"),
    "select": ("edgeiqa.runtime.cli", "cpu", "the best frames of a burst (no torch)"),
    "verify": ("edgeiqa.runtime.cli", "cpu", "score the bundle's reference frames on this machine vs export"),
    "demo": ("edgeiqa.demo", "export", "synthetic data -> train -> export -> score -> bench"),
}

# What each extra must make importable before a command of it can run.
_REQUIRES = {"train": ("torch", "timm"), "export": ("torch", "timm", "onnx"), "derive": ("onnx", "onnxruntime"),
             "cpu": ()}
_HEAVY = {"torch", "timm", "transformers", "peft", "onnx", "onnxscript", "safetensors", "scipy",
          "skimage", "sklearn", "openpyxl", "tqdm", "matplotlib", "yaml"}


def _usage() -> str:
    lines = [f"edgeiqa {__version__} - no-reference image quality on the edge", "",
             "usage: edgeiqa COMMAND [options]   (edgeiqa COMMAND --help for its options)", ""]
    lines += [f"  {name:<9} {summary}" for name, (_, _, summary) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in {"-h", "--help", "help"}:
        print(_usage())
        return 0
    if argv[0] in {"-V", "--version"}:
        print(__version__)
        return 0
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        import difflib

        hint = difflib.get_close_matches(command, COMMANDS, n=1)
        print(f"edgeiqa: unknown command {command!r}" + (f"; did you mean {hint[0]!r}?" if hint else ""),
              file=sys.stderr)
        print(_usage(), file=sys.stderr)
        return 2
    module_name, extra, _ = COMMANDS[command]
    try:
        for required in _REQUIRES[extra]:
            importlib.import_module(required)
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        root = (err.name or "").split(".")[0]
        if root in _HEAVY or root == "onnxruntime":
            print(f"edgeiqa {command} needs the '{extra}' extra ({root} is not installed): "
                  f"pip install 'edgeiqa[{extra}]'", file=sys.stderr)
            return 1
        raise
    return int(getattr(module, f"main_{command}")(rest) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
