"""Grow a captured decoder to its full depth by cloning one layer's ops.

Tracing a 70B model layer by layer costs about 1.5 s per layer; every layer of the models in the
zoo has the same graph, so pimc traces two layers and clones the second: its ops are the ones
whose location names `<prefix><k>.` (the nn.Module path). Values the template reads from layer
k-1 are rewired to the previous clone, its KV-cache arguments and results are added per clone,
weight handles and locations are renamed, and everything else it reads (cos/sin, masks) is
shared.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from pimc.errors import PimcError
from pimc.ir import FuncOp
from pimc.ir.attrs import WeightAttr
from pimc.ir.core import BlockArgument, Operation, OpResult, Value
from pimc.ir.dialects.builtin import ReturnOp
from pimc.ir.location import NameLoc


def _layer_of(op: Operation, prefix: str) -> int | None:
    name = op.loc.name if isinstance(op.loc, NameLoc) else ""
    m = re.match(re.escape(prefix) + r"(\d+)(\.|$)", name)
    return int(m.group(1)) if m else None


def _renamed(text: str, prefix: str, old: int, new: int) -> str:
    return re.sub(rf"^{re.escape(prefix)}{old}(\.|$)", rf"{prefix}{new}\g<1>", text)


@dataclass
class _Template:
    """One traced layer the clones copy: its ops and how it connects to the function."""

    layer: int
    ops: list[Operation]
    hidden_in: Value  # the previous layer's hidden state, the one value it reads from there
    hidden_out: Value  # its hidden state, the one value later ops read
    cache_args: list[BlockArgument]  # its KV-cache arguments (named `*_<layer>`)
    returned: list[int]  # positions of the return operands it produces (its caches)


def replicate_layers(func: FuncOp, prefix: str, template: int, total: int,
                     template_of: Callable[[int], int] | None = None) -> None:
    """Clone traced layers until the function has `total` layers. `template` is the last traced
    layer; `template_of(k)` names the traced layer that layer k copies (default: `template`),
    for models whose layers differ by type (Gemma 3's sliding and full attention layers)."""
    template_of = template_of or (lambda layer: template)
    ret = func.body.last
    assert isinstance(ret, ReturnOp)
    chosen = sorted({template, *(template_of(k) for k in range(template + 1, total))})
    templates = {t: _template(func, prefix, t, ret) for t in chosen}
    last = templates[template]
    anchor = last.ops[-1].next
    current = last.hidden_out
    new_returns: list[list[Value]] = [[] for _ in last.returned]
    for layer in range(template + 1, total):
        tpl = templates[template_of(layer)]
        mapping: dict[Value, Value] = {tpl.hidden_in: current}
        for arg in tpl.cache_args:
            name = _renamed_hint(arg.name_hint, tpl.layer, layer)
            mapping[arg] = func.body.add_arg(arg.type, name, _insert_position(func, arg))
        for op in tpl.ops:
            clone = _clone(op, mapping, prefix, tpl.layer, layer)
            func.body.insert_before(clone, anchor)
            for old, new in zip(op.results, clone.results):
                mapping[old] = new
        current = mapping[tpl.hidden_out]
        for slot, i in enumerate(tpl.returned):
            new_returns[slot].append(mapping[ret.operands[i]])
    members = set(last.ops)
    for u, index in list(last.hidden_out.uses):
        if u not in members and _layer_of(u, prefix) is None:
            u.set_operand(index, current)
    values = list(ret.operands)
    for slot, i in sorted(enumerate(last.returned), key=lambda p: -p[1]):
        values[i + 1:i + 1] = new_returns[slot]
    ret.drop_operand_uses()
    ret.detach()
    func.body.append(ReturnOp(values, loc=ret.loc))
    func.update_type()


def _template(func: FuncOp, prefix: str, layer: int, ret: ReturnOp) -> _Template:
    ops = [op for op in func.body.ops if _layer_of(op, prefix) == layer]
    if not ops:
        raise PimcError(f"@{func.sym_name}: no ops located in {prefix}{layer}; cannot replicate")
    inside = {r for op in ops for r in op.results}
    # what the template reads from outside, and which of it is the previous layer's output
    from_prev = {v for op in ops for v in op.operands if v not in inside and isinstance(v, OpResult)
                 and _layer_of(v.op, prefix) == layer - 1}
    if len(from_prev) != 1:
        raise PimcError(f"@{func.sym_name}: layer {layer} reads {len(from_prev)} values from "
                        f"layer {layer - 1}; expected one hidden state")
    cache_args = [v for op in ops for v in op.operands if isinstance(v, BlockArgument)]
    cache_args = sorted({a.index: a for a in cache_args if _mentions(a, layer)}.values(),
                        key=lambda a: a.index)
    members = set(ops)
    escaping = {r for op in ops for r in op.results
                if any(u not in members and u is not ret for u, _ in r.uses)}
    if len(escaping) != 1:
        raise PimcError(f"@{func.sym_name}: layer {layer} feeds {len(escaping)} values to later "
                        "ops; expected one hidden state")
    returned = [i for i, v in enumerate(ret.operands) if v in inside]
    return _Template(layer, ops, from_prev.pop(), escaping.pop(), cache_args, returned)


def layer_list_prefix(model) -> str:
    """The module path of a decoder's layer list ('model.layers.', 'transformer.h.'): the
    ModuleList with one entry per layer. Op locations are module paths, so this is the prefix
    `replicate_layers` finds a layer's ops by."""
    import torch
    layers = model.config.num_hidden_layers
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.ModuleList) and len(module) == layers:
            return name + "."
    raise PimcError(f"{type(model).__name__}: no module list of {layers} layers to replicate")


def _mentions(arg: BlockArgument, layer: int) -> bool:
    return bool(arg.name_hint and re.search(rf"_{layer}$", arg.name_hint))


def _renamed_hint(hint: str | None, old: int, new: int) -> str | None:
    return re.sub(rf"_{old}$", f"_{new}", hint) if hint else hint


def _insert_position(func: FuncOp, arg: BlockArgument) -> int:
    """After the last argument of the same family (past_keys_*), keeping families in order."""
    family = re.sub(r"_\d+$", "", arg.name_hint or "")
    last = max(a.index for a in func.args if re.sub(r"_\d+$", "", a.name_hint or "") == family)
    return last + 1


def _clone(op: Operation, mapping: dict[Value, Value], prefix: str, old: int, new: int) -> Operation:
    attrs = dict(op.attributes)
    handle = attrs.get("handle")
    if isinstance(handle, WeightAttr):
        attrs["handle"] = WeightAttr(_renamed(handle.tensor, prefix, old, new))
    loc = op.loc
    if isinstance(loc, NameLoc):
        loc = NameLoc(_renamed(loc.name, prefix, old, new), loc.child)
    return type(op)([mapping.get(v, v) for v in op.operands], [r.type for r in op.results],
                    attrs, (), loc)
