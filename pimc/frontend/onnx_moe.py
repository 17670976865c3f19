"""Routed experts written as a per-expert loop (HF's eager MoE, as optimum exports Qwen3-MoE,
Mixtral, Qwen2-MoE) -> one `pimc::RoutedExperts` node, imported as `llm.moe`.

The eager loop selects each expert's tokens with NonZero, whose result length depends on the
data: a static-shape compiler cannot import it op by op, and it should not, since what the
block computes is one routed-experts layer. The block is found from the graph's data flow, not
from node names:

- the router is TopK over Softmax(MatMul(x, W_router)) (a Cast between them is allowed);
- the block's output is the first value, after the last NonZero that depends on the TopK,
  through which everything derived from the TopK flows (a one-value cut of the graph);
- each NonZero's forward cone holds its expert's three weight MatMuls: gate and up read the
  same gathered rows, the gate's output goes through a Sigmoid (SiLU), down reads their product.

What was found is then checked by running the block on onnxruntime for random rows and
comparing it with `llm.moe`'s reference semantics (`reference_ops.moe`), renormalised top-k
weights or not. A block that does not match refuses with one line naming the NonZero.
"""
from __future__ import annotations

from collections import defaultdict

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from pimc.frontend.onnx_import import OnnxImporter, UnsupportedOnnxOp
from pimc.frontend.onnx_ops import rule

DOMAIN = "ai.pimc"
OP = "RoutedExperts"
_PASS_THROUGH = ("Cast", "Identity")


class _Graph:
    """Producers, consumers and topological positions of one graph's values."""

    def __init__(self, graph: onnx.GraphProto):
        self.nodes = list(graph.node)
        self.position = {id(n): i for i, n in enumerate(self.nodes)}
        self.producer = {o: n for n in self.nodes for o in n.output if o}
        self.consumers: dict[str, list] = defaultdict(list)
        for n in self.nodes:
            for i in n.input:
                self.consumers[i].append(n)
        self.initializers = {t.name: t for t in graph.initializer}
        self.outputs = {o.name for o in graph.output}

    def through(self, name: str) -> onnx.NodeProto | None:
        """The producer of `name`, looking through casts."""
        n = self.producer.get(name)
        while n is not None and n.op_type in _PASS_THROUGH:
            n = self.producer.get(n.input[0])
        return n

    def cone(self, names) -> list[onnx.NodeProto]:
        """Nodes that depend on any of `names`, in graph order."""
        seen, todo = set(), list(names)
        while todo:
            for n in self.consumers.get(todo.pop(), ()):
                if id(n) not in seen:
                    seen.add(id(n))
                    todo.extend(o for o in n.output if o)
        return [n for n in self.nodes if id(n) in seen]

    def constant(self, name: str) -> np.ndarray | None:
        """The value of an initializer or a Constant node's output, else None."""
        if name in self.initializers:
            return numpy_helper.to_array(self.initializers[name])
        node = self.producer.get(name)
        if node is None or node.op_type != "Constant":
            return None
        value = next((a for a in node.attribute if a.name == "value"), None)
        return None if value is None else numpy_helper.to_array(value.t)

    def weight(self, name: str) -> np.ndarray | None:
        t = self.initializers.get(name)
        return None if t is None or len(t.dims) != 2 else numpy_helper.to_array(t)


def _router(g: _Graph, topk: onnx.NodeProto) -> tuple[str, np.ndarray] | None:
    """(x, W_router [D, E]) of TopK(Softmax(x @ W_router))."""
    softmax = g.through(topk.input[0])
    if softmax is None or softmax.op_type != "Softmax":
        return None
    mm = g.through(softmax.input[0])
    if mm is None or mm.op_type != "MatMul" or g.weight(mm.input[1]) is None:
        return None
    return mm.input[0], g.weight(mm.input[1])


def _one_value_cut(g: _Graph, cone: list, after: int) -> str | None:
    """The first value produced at or after position `after` that is the only value of `cone`
    still live there (everything downstream sees the block through it)."""
    last_use = {}
    for n in g.nodes:
        for i in n.input:
            last_use[i] = g.position[id(n)]
    live: set[str] = set()
    in_cone = {id(n) for n in cone}
    for n in g.nodes:
        pos = g.position[id(n)]
        live = {v for v in live if last_use.get(v, -1) > pos or v in g.outputs}
        if id(n) in in_cone:
            live |= {o for o in n.output if o and (last_use.get(o, -1) > pos or o in g.outputs)}
        if pos >= after and len(live) == 1 and next(iter(live)) in n.output:
            return next(iter(live))
    return None


def _expert(g: _Graph, nonzero: onnx.NodeProto, end: int):
    """(gate [D, F], up [D, F], down [F, D]) of the expert whose rows `nonzero` selects."""
    mms = [n for n in g.cone(nonzero.output) if g.position[id(n)] < end
           and n.op_type == "MatMul" and g.weight(n.input[1]) is not None]
    if len(mms) != 3:
        return None
    pair = [m for m in mms if sum(o.input[0] == m.input[0] for o in mms) == 2]
    down = [m for m in mms if m not in pair]
    gate = [m for m in pair if any(c.op_type == "Sigmoid" for c in g.consumers[m.output[0]])]
    if len(pair) != 2 or len(down) != 1 or len(gate) != 1:
        return None
    up = next(m for m in pair if m is not gate[0])
    return g.weight(gate[0].input[1]), g.weight(up.input[1]), g.weight(down[0].input[1])


def _expert_index(g: _Graph, nonzero: onnx.NodeProto) -> int | None:
    """e of NonZero(Gather(mask, e)): which expert's routing row the loop body reads."""
    gather = g.through(nonzero.input[0])
    if gather is None or gather.op_type != "Gather":
        return None
    index = g.constant(gather.input[1])
    return None if index is None or index.size != 1 else int(index.reshape(-1)[0])


def _block_model(model: onnx.ModelProto, g: _Graph, x: str, y: str):
    """(the nodes computing `y` from one input as a model of their own, that input's shape for
    rows of x [T, D]), or None. The input is x, or the tensor x flattens (the [B, S, D] hidden
    state) when the block also reads that tensor's shape, as HF's eager loop does."""
    source = g.producer.get(x)
    for start, shape in ((x, lambda t, d: (t, d)), (source.input[0] if source is not None
                                                     and source.op_type in ("Reshape", "Flatten")
                                                     else None, lambda t, d: (1, t, d))):
        nodes = _closure(g, start, y) if start is not None else None
        if nodes is not None:
            used = {i for n in nodes for i in n.input}
            graph = helper.make_graph(
                nodes, "routed_experts",
                [helper.make_tensor_value_info(start, TensorProto.FLOAT, None)],
                [helper.make_tensor_value_info(y, TensorProto.FLOAT, None)],
                [t for name, t in g.initializers.items() if name in used])
            return helper.make_model(graph, opset_imports=list(model.opset_import),
                                     ir_version=model.ir_version), shape
    return None


def _closure(g: _Graph, start: str, y: str) -> list | None:
    """The nodes `y` needs, back to `start`; None if it needs another graph input."""
    need, keep, todo = set(), set(), [y]
    while todo:
        name = todo.pop()
        if name in need or name == start or name in g.initializers:
            continue
        need.add(name)
        n = g.producer.get(name)
        if n is None:
            return None
        keep.add(id(n))
        todo.extend(i for i in n.input if i)
    return [n for n in g.nodes if id(n) in keep]


def _matches(block, stacked: dict[str, np.ndarray], k: int) -> bool | None:
    """Whether the block renormalises the top-k weights (None: it is not llm.moe at all)."""
    import onnxruntime as ort
    from pimc.ir import reference_ops
    model, shape = block
    e, d = stacked["router"].shape
    rows = -(-4 * e // k) + 1  # enough rows that every expert is likely picked
    x = np.random.default_rng(0).standard_normal((rows, d)).astype(np.float32)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {session.get_inputs()[0].name: x.reshape(shape(rows, d))})
    for normalize in (True, False):
        want = reference_ops.moe(x, *stacked.values(), k, normalize)
        if got.size == want.size and np.allclose(got.reshape(want.shape), want, rtol=1e-4,
                                                 atol=1e-5):
            return normalize
    return None


def raise_routed_experts(model: onnx.ModelProto, source: str) -> onnx.ModelProto:
    """`model` with each eager routed-experts block replaced by one RoutedExperts node."""
    while any(n.op_type == "NonZero" for n in model.graph.node):
        g = _Graph(model.graph)
        for topk in (n for n in g.nodes if n.op_type == "TopK"):
            cone = g.cone(topk.output)
            later = next((n for n in cone if n.op_type == "TopK"), None)  # the next block's
            beyond = {id(n) for n in g.cone(later.output)} if later is not None else set()
            nonzeros = [n for n in cone if n.op_type == "NonZero" and id(n) not in beyond]
            if nonzeros:
                model = _replace(model, g, topk, cone, nonzeros, source)
                break
        else:
            return model
    return model


def _replace(model, g: _Graph, topk, cone, nonzeros, source: str) -> onnx.ModelProto:
    def refuse(why: str) -> UnsupportedOnnxOp:
        return UnsupportedOnnxOp(
            f"{source}: unsupported ONNX op 'NonZero' at node '{nonzeros[0].name}': it selects "
            f"tokens for routed experts, but {why}; pimc imports the eager expert loop only as "
            "llm.moe (softmax router, top-k, SiLU-gated experts)")
    found = _router(g, topk)
    if found is None:
        raise refuse("its TopK does not read Softmax(MatMul(x, W_router))")
    x, router = found
    k = g.constant(topk.input[1])
    k = None if k is None or k.size != 1 else int(k.reshape(-1)[0])
    y = _one_value_cut(g, cone, max(g.position[id(n)] for n in nonzeros))
    if k is None or y is None:
        raise refuse("its top-k count is not a constant" if k is None else
                     "no single value carries the experts' sum")
    end = g.position[id(g.producer[y])] + 1
    by_index = {_expert_index(g, n): _expert(g, n, end) for n in nonzeros}
    if sorted(by_index) != list(range(router.shape[1])) or None in by_index.values():
        raise refuse(f"its {len(nonzeros)} expert bodies are not one gated MLP per expert "
                     f"of {router.shape[1]}")
    # llm.moe's layout: router [E, D], gate and up [E, F, D], down [E, D, F]
    stacked = {"router": np.ascontiguousarray(router.T)}
    for i, part in enumerate(("gate", "up", "down")):
        stacked[part] = np.stack([by_index[e][i].T for e in range(router.shape[1])])
    block = _block_model(model, g, x, y)
    normalize = None if block is None else _matches(block, stacked, k)
    if normalize is None:
        raise refuse("the block does not compute llm.moe on onnxruntime")
    return _rewritten(model, g, x, y, stacked, k, normalize)


def _rewritten(model, g: _Graph, x: str, y: str, arrays: dict[str, np.ndarray], k: int,
               normalize: bool) -> onnx.ModelProto:
    scope = g.producer[y].name.rsplit("/", 1)[0] or y
    names = {part: f"{scope}/experts.{part}" for part in arrays}
    node = helper.make_node(OP, [x, *names.values()], [y], name=f"{scope}/{OP}", domain=DOMAIN,
                            top_k=k, normalize=int(normalize))
    out = onnx.ModelProto()
    out.CopyFrom(model)
    producer_pos = g.position[id(g.producer[y])]
    nodes = [n for i, n in enumerate(g.nodes) if i != producer_pos]
    nodes.insert(producer_pos, node)
    del out.graph.node[:]
    out.graph.node.extend(_live(nodes, g.outputs))
    out.graph.initializer.extend(numpy_helper.from_array(a, names[p]) for p, a in arrays.items())
    used = {i for n in out.graph.node for i in n.input}
    kept = [t for t in out.graph.initializer if t.name in used]
    del out.graph.initializer[:]
    out.graph.initializer.extend(kept)
    if not any(o.domain == DOMAIN for o in out.opset_import):
        out.opset_import.append(helper.make_opsetid(DOMAIN, 1))
    return out


def _live(nodes: list, outputs: set[str]) -> list:
    """`nodes` without those whose results nothing reads (the replaced loop)."""
    needed, kept = set(outputs), []
    for n in reversed(nodes):
        if any(o in needed for o in n.output):
            kept.append(n)
            needed.update(i for i in n.input if i)
    return kept[::-1]


@rule(f"{DOMAIN}::{OP}")
def _routed_experts(im: OnnxImporter, node, attrs):
    x, router, gate, up, down = (im.value(n) for n in node.input)
    return [im.b.op("llm.moe", x, router, gate, up, down, top_k=int(attrs["top_k"]),
                    normalize=bool(attrs["normalize"]))]
