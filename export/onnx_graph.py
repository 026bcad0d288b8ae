"""ONNX graph editing in one place: who produces and who consumes each tensor, node order, and the
rewrites built on them (taking Q/DQ pairs off the inputs of ops that should read float). Used by
fold_normalize, quantize and derive."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any


def producers(graph: Any) -> dict[str, Any]:
    """tensor name -> the node that writes it."""
    return {out: node for node in graph.node for out in node.output}


def consumers(graph: Any) -> dict[str, list[Any]]:
    """tensor name -> the nodes that read it."""
    out: dict[str, list[Any]] = defaultdict(list)
    for node in graph.node:
        for name in node.input:
            out[name].append(node)
    return out


def activation_dq(node: Any, made_by: dict[str, Any]) -> tuple[Any, Any] | None:
    """(QuantizeLinear, DequantizeLinear) when `node` is a DQ of a quantised activation, else None
    (a DQ of a stored weight reads an initializer, not a QuantizeLinear)."""
    if node.op_type != "DequantizeLinear":
        return None
    q = made_by.get(node.input[0])
    return (q, node) if q is not None and q.op_type == "QuantizeLinear" else None


def float_inputs_except(path: Path, quantized_ops: tuple[str, ...]) -> int:
    """Make every op outside `quantized_ops` read the float tensor instead of a Q/DQ round trip of it.

    ONNX Runtime's quantiser gives each consumer of a quantised activation its own Q/DQ pair
    (DedicatedQDQPair), the residual Adds and the stage statistics included. For TensorRT's
    explicit quantisation that runs those in int8 too; this project's TensorRT flavour keeps them
    float (export/quantize.py). Rewires those inputs and drops the pairs nobody reads any more.
    Returns how many inputs were rewired.
    """
    import onnx

    model = onnx.load(str(path))
    graph = model.graph
    made_by = producers(graph)
    rewired = 0
    for node in graph.node:
        if node.op_type in quantized_ops or node.op_type in ("QuantizeLinear", "DequantizeLinear"):
            continue
        for i, name in enumerate(node.input):
            pair = activation_dq(made_by[name], made_by) if name in made_by else None
            if pair is not None:
                node.input[i] = pair[0].input[0]  # the float tensor the Q read
                rewired += 1
    if rewired:
        outputs = {o.name for o in graph.output}
        while True:  # drop Q/DQ nodes whose outputs nobody reads
            read = {name for n in graph.node for name in n.input} | outputs
            dead = [n for n in graph.node if n.op_type in ("QuantizeLinear", "DequantizeLinear")
                    and not any(o in read for o in n.output)]
            if not dead:
                break
            for n in dead:
                graph.node.remove(n)
        onnx.save(model, str(path))
    return rewired


def topological_order(nodes: list[Any], known: set[str]) -> list[Any]:
    """Nodes so that each comes after the producers of its inputs (ONNX requires it, and TensorRT's
    parser reads in order); a source graph that was not sorted (fp16 conversion) comes out sorted."""
    producers = {o: i for i, n in enumerate(nodes) for o in n.output}
    order: list[int] = []
    state = [0] * len(nodes)  # 0 new, 1 visiting, 2 placed
    for start in range(len(nodes)):
        stack = [(start, False)]
        while stack:
            i, expanded = stack.pop()
            if expanded:
                state[i] = 2
                order.append(i)
                continue
            if state[i]:
                continue
            state[i] = 1
            stack.append((i, True))
            for name in nodes[i].input:
                j = producers.get(name)
                if name and name not in known and j is not None and state[j] == 0:
                    stack.append((j, False))
    return [nodes[i] for i in order]
