"""The torch-dialect -> llm rule table used by the torch-mlir importer.

Rules are keyed by MLIR op name (`torch.aten.mm`; a `torch.operator "torch.aten.x"` counts as
`torch.aten.x`) and read operands by position in the ATen schema, as torch-mlir imports every
argument, defaults included. They emit the same llm ops as `aten_ops.py` does for the same
core-ATen graph, so raise-llm-ops gives both frontends the same op histogram. Result types of
view-like ops come from the MLIR result type and its symbolic-shape binding.
"""
from __future__ import annotations

from collections.abc import Callable

from pimc.frontend.torch_mlir_import import Literal, MlirImporter, op_name
from pimc.frontend.fx_import import UnsupportedOp
from pimc.ir.core import Value
from pimc.ir.symbolic import as_dim, dims_equal

Rule = Callable[[MlirImporter, object], object]
RULES: dict[str, Rule] = {}
INT64_MAX = 2**63 - 1


def rule(*names):
    def register(fn: Rule) -> Rule:
        for n in names:
            RULES[n if n.startswith("torch.") else f"torch.aten.{n}"] = fn
        return fn
    return register


def _tensor(im: MlirImporter, entry) -> Value:
    """A list element (Value or not-yet-used literal) as a Value."""
    return im.value(entry.mlir) if isinstance(entry, Literal) else entry


def _x(im, op, i=0) -> Value:
    return im.value(op.operands[i])


def _axis(im, op, i, rank, default=0):
    a = im.py(op, i, default)
    return a % rank if rank else 0


# ---- constants, lists and shape arithmetic ----
@rule("torch.constant.int", "torch.constant.float", "torch.constant.bool", "torch.constant.str",
      "torch.constant.device", "torch.constant.none")
def _constant(im, op):
    from torch_mlir import ir
    if op.name == "torch.constant.none":
        return None
    attr = op.attributes["value"]
    if op.name == "torch.constant.float":
        return ir.FloatAttr(attr).value
    if op.name == "torch.constant.int":
        return ir.IntegerAttr(attr).value
    if op.name == "torch.constant.bool":
        return bool(ir.IntegerAttr(attr).value)
    return ir.StringAttr(attr).value


@rule("torch.vtensor.literal")
def _literal(im, op):
    from torch_mlir import ir
    if "pimc.weight" in op.attributes:
        return Literal(ir.StringAttr(op.attributes["pimc.weight"]).value, op.results[0])
    attr = op.attributes["value"]
    if isinstance(attr, ir.DenseElementsAttr) or ir.DenseElementsAttr.isinstance(attr):
        dense = ir.DenseElementsAttr(attr)
        if dense.is_splat:
            value = dense.get_splat_value()
            value = value.value if hasattr(value, "value") else float(value)
            return im.b.op("llm.constant", result_type=im.result_type(op), value=float(value))
    raise UnsupportedOp(f"{im.where()}: an unnamed, non-splat tensor literal; import through "
                        "pimc.frontend.torch_mlir so every literal carries a pimc.weight name")


@rule("torch.prim.ListConstruct")
def _list(im, op):
    return [im.env.get(v) for v in op.operands]


@rule("torch.prim.ListUnpack")
def _unpack(im, op):
    return list(im.env[op.operands[0]])


@rule("torch.prim.NumToTensor.Scalar")
def _num_to_tensor(im, op):
    return im.py(op, 0)  # a Python scalar in a tensor position, as in the FX graph


@rule("size.int")
def _size(im, op):
    x = _x(im, op)
    return x.type.shape[im.py(op, 1) % x.type.rank]


def _int_op(fn):
    return lambda im, op: as_dim(fn(im.py(op, 0), im.py(op, 1)))


RULES.update({"torch.aten.mul.int": _int_op(lambda a, b: a * b),
              "torch.aten.add.int": _int_op(lambda a, b: a + b),
              "torch.aten.sub.int": _int_op(lambda a, b: a - b),
              "torch.aten.floordiv.int": _int_op(lambda a, b: a // b)})


@rule("_assert_tensor_metadata", "_assert_scalar")
def _drop(im, op):
    return None


# ---- views and copies (result shape from the MLIR type) ----
@rule("view", "_unsafe_view", "reshape", "unsqueeze", "squeeze.dim", "squeeze.dims", "squeeze")
def _reshape(im, op):
    return im.b.op("llm.reshape", _x(im, op), result_type=im.result_type(op))


@rule("expand")
def _expand(im, op):
    x, t = _x(im, op), im.result_type(op)
    return x if x.type == t else im.b.op("llm.expand", x, result_type=t)


@rule("clone", "alias", "detach", "lift_fresh_copy")
def _identity(im, op):
    return _x(im, op)


@rule("_to_copy", "to.dtype")
def _cast(im, op):
    x, t = _x(im, op), im.result_type(op)
    return x if x.type == t else im.b.op("llm.cast", x, result_type=t)


@rule("permute")
def _permute(im, op):
    x = _x(im, op)
    return im.b.op("llm.transpose", x, perm=[d % x.type.rank for d in im.py(op, 1)])


@rule("transpose.int", "t")
def _transpose(im, op):
    x = _x(im, op)
    rank = x.type.rank
    a, b = (im.py(op, 1) % rank, im.py(op, 2) % rank) if len(op.operands) > 1 else (0, 1)
    perm = list(range(rank))
    perm[a], perm[b] = perm[b], perm[a]
    return im.b.op("llm.transpose", x, perm=perm)


# ---- arithmetic ----
def _operand(im, v, like: Value) -> Value:
    if im.is_tensor(v):
        return im.value(v)
    value = im.env.get(v)
    if not isinstance(value, (int, float)):
        raise UnsupportedOp(f"{im.where()}: arithmetic with the symbolic scalar {value} as a "
                            "tensor operand")
    return im.constant_like(float(value), like.type)


def _cast_to(im, op, v: Value) -> Value:
    t = im.result_type(op)
    return v if v.type == t else im.b.op("llm.cast", v, result_type=t)


def _binary(name):
    def convert(im, op):
        a, b = op.operands[0], op.operands[1]
        like = im.value(a) if im.is_tensor(a) else im.value(b)
        lhs, rhs = _operand(im, a, like), _operand(im, b, like)
        alpha = im.py(op, 2, 1) if len(op.operands) > 2 else 1
        if alpha != 1:
            rhs = im.b.op("llm.mul", rhs, im.constant_like(alpha, rhs.type))
        return _cast_to(im, op, im.b.op(name, lhs, rhs))
    return convert


for _n, _llm in (("add", "add"), ("sub", "sub"), ("mul", "mul"), ("div", "div")):
    RULES[f"torch.aten.{_n}.Tensor"] = RULES[f"torch.aten.{_n}.Scalar"] = _binary(f"llm.{_llm}")
RULES["torch.aten.maximum"] = _binary("llm.maximum")
RULES["torch.aten.minimum"] = _binary("llm.minimum")


@rule("rsub.Scalar")
def _rsub(im, op):
    x = _x(im, op)
    return im.b.op("llm.sub", im.constant_like(im.py(op, 1), x.type), x)


for _n in ("neg", "rsqrt", "sqrt", "exp", "tanh", "sigmoid", "silu", "cos", "sin", "relu",
           "reciprocal"):
    RULES[f"torch.aten.{_n}"] = (lambda n: lambda im, op: im.b.op(n, _x(im, op)))(f"llm.{_n}")


@rule("gelu")
def _gelu(im, op):
    return im.b.op("llm.gelu", _x(im, op), approximate=im.py(op, 1, "none"))


@rule("pow.Tensor_Scalar")
def _pow(im, op):
    return im.b.op("llm.pow_scalar", _x(im, op), exponent=float(im.py(op, 1)))


def _reduce(name):
    def convert(im, op):
        x = _x(im, op)
        axes = im.py(op, 1) or list(range(x.type.rank))
        axes = [axes] if isinstance(axes, int) else axes
        v = im.b.op(name, x, axes=[a % x.type.rank for a in axes],
                    keepdim=bool(im.py(op, 2, False)))
        return _cast_to(im, op, v)
    return convert


RULES["torch.aten.mean.dim"] = _reduce("llm.reduce_mean")
RULES["torch.aten.sum.dim_IntList"] = _reduce("llm.reduce_sum")
RULES["torch.aten.amax"] = _reduce("llm.reduce_max")


@rule("_softmax", "softmax.int")
def _softmax(im, op):
    x = _x(im, op)
    return _cast_to(im, op, im.b.op("llm.softmax", x, axis=im.py(op, 1) % x.type.rank))


# ---- linear algebra ----
@rule("mm", "bmm", "matmul")
def _matmul(im, op):
    return im.b.op("llm.matmul", _x(im, op, 0), _x(im, op, 1))


@rule("addmm")
def _addmm(im, op):
    if im.py(op, 3, 1) != 1 or im.py(op, 4, 1) != 1:
        raise UnsupportedOp(f"{im.where()}: aten.addmm with beta/alpha != 1")
    y = im.b.op("llm.matmul", _x(im, op, 1), _x(im, op, 2))
    return im.b.op("llm.add", y, _x(im, op, 0))


@rule("scaled_dot_product_attention")
def _sdpa(im, op):
    q, k, v = (_x(im, op, i) for i in range(3))
    mask = im.env.get(op.operands[3]) if len(op.operands) > 3 else None
    if im.py(op, 4, 0.0):
        raise UnsupportedOp(f"{im.where()}: scaled_dot_product_attention with dropout")
    causal = bool(im.py(op, 5, False))
    if causal and not dims_equal(q.type.shape[2], k.type.shape[2]):
        raise UnsupportedOp(f"{im.where()}: PyTorch's is_causal aligns the mask top-left, which "
                            "differs from pimc's bottom-right causal when query and key lengths "
                            "differ; pass an explicit mask instead")
    operands = [q, k, v] + ([im.value(op.operands[3])] if mask is not None else [])
    return im.b.op("llm.attention", *operands, causal=causal, scale=im.py(op, 6))


@rule("torch.pimc.attention")
def _pimc_attention(im, op):
    """HF capture's attention (pimc/frontend/hf_attention.py), as torch-mlir spells the custom
    op: llm.attention with its mask operand and causal, scale, window and softcap attributes."""
    q, k, v = (_x(im, op, i) for i in range(3))
    mask = [im.value(op.operands[3])] if im.env.get(op.operands[3]) is not None else []
    return im.b.op("llm.attention", q, k, v, *mask, causal=bool(im.py(op, 4, False)),
                   scale=im.py(op, 5), window=im.py(op, 6), softcap=im.py(op, 7))


@rule("native_layer_norm")
def _layernorm(im, op):
    params = [im.value(op.operands[i]) for i in (2, 3) if im.env.get(op.operands[i]) is not None]
    return (im.b.op("llm.layernorm", _x(im, op), *params, eps=float(im.py(op, 4))), None, None)


# ---- data movement ----
@rule("cat")
def _cat(im, op):
    # torch.cat skips legacy empty 1-D tensors (HF's lazily initialised cache layers are these)
    xs = [_tensor(im, e) for e in im.env[op.operands[0]]]
    xs = [x for x in xs if x.type.shape != (0,)]
    if len(xs) == 1:
        return xs[0]
    return im.b.op("llm.concat", *xs, axis=_axis(im, op, 1, xs[0].type.rank))


@rule("slice.Tensor")
def _slice(im, op):
    x = _x(im, op)
    axis = _axis(im, op, 1, x.type.rank)
    size, out = x.type.shape[axis], im.result_type(op).shape[axis]
    start = im.py(op, 2) or 0
    if isinstance(start, int) and start < 0:
        start = as_dim(size + start)
    step = im.py(op, 4, 1)
    if dims_equal(out, size) and step == 1:
        return x
    return im.b.op("llm.slice", x, axis=axis, start=start, end=as_dim(start + out * step),
                   step=step)


@rule("select.int")
def _select(im, op):
    x = _x(im, op)
    axis, index = im.py(op, 1) % x.type.rank, im.py(op, 2)
    if isinstance(index, int) and index < 0:
        index = as_dim(x.type.shape[axis] + index)
    part = im.b.op("llm.slice", x, axis=axis, start=index, end=as_dim(index + 1))
    return im.b.op("llm.reshape", part, result_type=im.result_type(op))


@rule("split_with_sizes", "split.Tensor")
def _split(im, op):
    x = _x(im, op)
    axis = _axis(im, op, 2, x.type.rank)
    sizes = im.py(op, 1)
    if isinstance(sizes, int):  # split.Tensor: chunks of `sizes`, the last one shorter
        total = x.type.shape[axis]
        if not isinstance(total, int):
            raise UnsupportedOp(f"{im.where()}: aten.split.Tensor along a symbolic dim")
        sizes = [min(sizes, total - s) for s in range(0, total, sizes)]
    parts, start = [], 0
    for n in sizes:
        parts.append(im.b.op("llm.slice", x, axis=axis, start=start, end=as_dim(start + n)))
        start = as_dim(start + n)
    return parts


@rule("embedding")
def _embedding(im, op):
    return im.b.op("llm.embedding", _x(im, op, 1), _x(im, op, 0))


@rule("index.Tensor", "index.Tensor_hacked_twin")
def _index(im, op):
    indices = im.env[op.operands[1]]
    picked = [i for i, a in enumerate(indices) if a is not None]
    if len(picked) != 1:
        raise UnsupportedOp(f"{im.where()}: aten.index.Tensor with {len(picked)} index tensors; "
                            "pimc supports one (numpy.take)")
    axis = picked[0]
    return im.b.op("llm.take", _x(im, op), _tensor(im, indices[axis]), axis=axis)


@rule("topk")
def _topk(im, op):
    x = _x(im, op)
    if not im.py(op, 3, True):
        raise UnsupportedOp(f"{im.where()}: aten.topk with largest=False")
    return im.b.op("llm.topk", x, k=int(im.py(op, 1)), axis=_axis(im, op, 2, x.type.rank, -1))


@rule("arange.start_step", "arange.start", "arange")
def _arange(im, op):
    name = op_name(op)
    start = im.py(op, 0) if name != "torch.aten.arange" else 0
    step = im.py(op, 2, 1) if name == "torch.aten.arange.start_step" else 1
    return im.b.op("llm.arange", result_type=im.result_type(op), start=start, step=int(step))


@rule("full", "scalar_tensor", "full_like")
def _full(im, op):
    value = im.py(op, 0) if op_name(op) == "torch.aten.scalar_tensor" else im.py(op, 1)
    return im.b.op("llm.constant", result_type=im.result_type(op), value=float(value))


def convert(im: MlirImporter, op):
    name = op_name(op)
    fn = RULES.get(name)
    if fn is None:
        raise UnsupportedOp(
            f"unsupported op '{name}' in @{im.func_name}"
            f"{f' at {loc.describe()}' if (loc := im.location(op)) else ''}; the torch-mlir "
            f"frontend supports: {', '.join(sorted(RULES))}. Hint: add a rule in "
            "pimc/frontend/torch_mlir_ops.py (or keep the op whole by removing it from the "
            "decomposition table in pimc.frontend.torch_export.decompose)")
    return fn(im, op)
