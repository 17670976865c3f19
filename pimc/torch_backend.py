"""`torch.compile(model, backend="pimc")`: TorchDynamo hands pimc each captured FX graph.

Registered under torch's `torch_dynamo_backends` entry point (pyproject.toml). For every graph
Dynamo captures, the graph is exported with torch.export, imported by pimc's torch.export
frontend, run through a pipeline (placed on a target if one is given) and compiled by an
executing backend, by default the registry's reference one (numba-cpu). Options, through
`torch.compile(..., options={...})`:
  target          a preset or TOML file to place ops for (default: none, no placement)
  pipeline        a named pipeline or a pipeline string (default: "default")
  backend         any installed backend whose capabilities say it executes
  pass_options    {pass_name_in_snake_case: {option: value}}, as pimc.compile takes them
  backend_options options for the backend's stages

What runs eagerly instead, each with a PimcFallbackWarning that says why:
  * a graph with an op pimc has no rule for (the warning names the op), or that pimc
    otherwise refuses (the first line of pimc's error), runs as Dynamo captured it;
  * a graph that mutates its inputs in place (pimc's IR is pure);
  * a call with autograd recording (a tensor needs grad and grad mode is on): pimc compiles
    inference, so the graph runs eagerly and the autograd graph stays right.
Graph breaks are Dynamo's: the Python between graphs runs eagerly, each graph comes here.

Shapes: each graph is compiled for the concrete input shapes of a call (dims Dynamo marks
dynamic arrive as ints and are fixed per compiled program); a new shape compiles again.
Parameters become pimc weights, read when the graph is compiled; a parameter changed in place
(its version counter moves) or replaced makes the next call compile again.
"""
from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from pimc.errors import PimcError

OPTIONS = ("target", "pipeline", "backend", "pass_options", "backend_options")


class PimcFallbackWarning(UserWarning):
    """A captured graph (or one call of it) runs eagerly instead of through pimc."""


@dataclass(frozen=True)
class Settings:
    target: str | None = None
    pipeline: str = "default"
    backend: str = ""
    pass_options: dict = field(default_factory=dict)
    backend_options: dict = field(default_factory=dict)


def settings_from(options: dict | None) -> Settings:
    """Check torch.compile's `options` against pimc's: unknown keys and backends that do not
    execute are user errors, raised before anything is traced."""
    from pimc.backends import registry
    options = dict(options or {})
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise PimcError(f"torch.compile(backend='pimc'): unknown option(s) {', '.join(unknown)}; "
                        f"valid: {', '.join(OPTIONS)}")
    settings = Settings(**{"backend": registry.EXECUTING_DEFAULT, **options})
    if not registry.get(settings.backend).capabilities.executes:
        runnable = [n for n in registry.names() if registry.get(n).capabilities.executes]
        raise PimcError(f"torch.compile(backend='pimc'): backend '{settings.backend}' does not "
                        f"execute code; backends that do: {', '.join(runnable)}")
    if settings.target is not None:
        from pimc.targets import get_target
        get_target(settings.target)
    return settings


def pimc_backend(gm: torch.fx.GraphModule, example_inputs: Sequence[Any],
                 options: dict | None = None, **_torch_kwargs) -> Callable:
    """The Dynamo backend: a callable that runs `gm` through pimc (compiled at its first call
    for each input signature), or eagerly where pimc cannot run it."""
    return CompiledGraph(gm, settings_from(options))


_EAGER = object()  # a cache entry: this signature runs the captured graph as it is


@dataclass
class _Compiled:
    program: Any
    inputs: list[int]  # positions of the call's arguments the pimc function takes
    outputs: list[tuple[str, Any]]  # ("tensor", dtype) or ("constant", value), in order
    out_spec: Any  # the pytree structure the captured graph returns
    params: dict[int, tuple[int, int]]  # position -> (id, version) when compiled


class CompiledGraph:
    """One Dynamo graph: pimc programs per input signature, or the graph itself (eager)."""

    def __init__(self, gm: torch.fx.GraphModule, settings: Settings):
        self.gm, self.settings = gm, settings
        # read now: Dynamo drops the placeholders' sources from the graph once it is compiled
        self.paths = [_parameter_path(n) for n in gm.graph.nodes if n.op == "placeholder"]
        self.cache: dict[tuple, _Compiled | object] = {}
        self.warned: set[str] = set()

    @property
    def programs(self) -> list:
        """The pimc Programs compiled so far (empty where every call ran eagerly)."""
        return [e.program for e in self.cache.values() if isinstance(e, _Compiled)]

    def __call__(self, *args):
        if torch.is_grad_enabled() and any(isinstance(a, torch.Tensor) and a.requires_grad
                                           for a in args):
            self._warn("autograd is recording (an input needs grad): pimc compiles inference "
                       "only, so this graph runs eagerly; call the model under torch.no_grad()")
            return self.gm(*args)
        key = tuple(_signature(a) for a in args)
        entry = self.cache.get(key)
        if isinstance(entry, _Compiled) and any(
                (id(args[i]), args[i]._version) != seen for i, seen in entry.params.items()):
            entry = None  # a parameter was replaced or updated in place: its weights are stale
        if entry is None:
            entry = self.cache[key] = self._compile(args)
        if entry is _EAGER:
            return self.gm(*args)
        return _run(entry, args)

    def _warn(self, why: str) -> None:
        if why not in self.warned:
            self.warned.add(why)
            ops = sum(1 for n in self.gm.graph.nodes if n.op in ("call_function", "call_method",
                                                                  "call_module"))
            warnings.warn(f"pimc: torch.compile runs a captured graph of {ops} ops eagerly: {why}",
                          PimcFallbackWarning, stacklevel=3)

    def _compile(self, args: tuple) -> _Compiled | object:
        from pimc.api import compile as compile_program
        from pimc.frontend.torch_export import decompose, trace
        lifted = _Lifted(self.gm, self.paths, args)
        try:
            ep = trace(lifted, [args[i] for i in lifted._pimc_inputs])
            why = _unsupported(decompose(ep))
            if why is None:
                s = self.settings
                program = compile_program(ep, target=s.target, backend=s.backend,
                                          pipeline=s.pipeline, backend_options=s.backend_options,
                                          **s.pass_options)
        except PimcError as e:
            why = str(e.message).splitlines()[0]
        if why is not None:
            self._warn(why)
            return _EAGER
        params = {i: (id(args[i]), args[i]._version) for i in lifted._pimc_params}
        return _Compiled(program, lifted._pimc_inputs, _outputs(ep), ep.call_spec.out_spec,
                         params)


class _Lifted(torch.nn.Module):
    """The captured graph as a module to export: its Parameter arguments become parameters (pimc
    weights), arguments that are not tensors are fixed, the other tensors stay inputs."""

    def __init__(self, gm: torch.fx.GraphModule, paths: list[list[str]], args: tuple):
        super().__init__()
        # the parameters sit at their own paths on this module, so pimc's weight handles are the
        # model's names; pimc's own attributes start with _pimc_ to stay out of their way
        self._pimc_graph = gm
        self._pimc_slots: list[tuple[str, Any]] = []
        self._pimc_inputs: list[int] = []
        self._pimc_params: list[int] = []
        for i, (path, arg) in enumerate(zip(paths, args)):
            if isinstance(arg, torch.nn.Parameter):
                owner = self
                for part in path[:-1]:  # nested like the user's model: weights keep its names
                    if not hasattr(owner, part):
                        owner.add_module(part, torch.nn.Module())
                    owner = getattr(owner, part)
                owner.register_parameter(path[-1], torch.nn.Parameter(arg.detach(),
                                                                      requires_grad=False))
                self._pimc_slots.append(("weight", ".".join(path)))
                self._pimc_params.append(i)
            elif isinstance(arg, torch.Tensor):
                self._pimc_slots.append(("input", None))
                self._pimc_inputs.append(i)
            else:
                self._pimc_slots.append(("fixed", arg))

    def forward(self, *inputs):
        given = iter(inputs)
        args = [self.get_parameter(v) if kind == "weight" else
                next(given) if kind == "input" else v
                for kind, v in self._pimc_slots]
        return self._pimc_graph(*args)


def _parameter_path(node: torch.fx.Node) -> list[str]:
    """The parameter's name in the user's model (`up.weight` from Dynamo's source
    `L['self']._modules['up']._parameters['weight']`), else the placeholder's name."""
    source = getattr(node.meta.get("grapharg"), "source", None)
    keys = re.findall(r"\['([^']+)'\]", source.name if source is not None else "")
    keys = keys[1:] if keys[:1] == ["self"] else keys
    if keys and all(k.isidentifier() or k.isdigit() for k in keys):
        return keys
    return [str(node.target)]


def _signature(arg) -> tuple:
    if isinstance(arg, torch.Tensor):
        return ("tensor", tuple(arg.shape), arg.dtype, isinstance(arg, torch.nn.Parameter))
    return ("value", type(arg).__name__, arg)


def _unsupported(ep: torch.export.ExportedProgram) -> str | None:
    """Why pimc cannot take this (decomposed) graph, naming the ops, or None if it can."""
    from torch.export.graph_signature import OutputKind

    from pimc.frontend.aten_ops import RULES
    mutated = [s.target for s in ep.graph_signature.output_specs
               if s.kind != OutputKind.USER_OUTPUT]
    if mutated:
        return f"it mutates {', '.join(map(str, mutated))} in place (pimc's IR is pure)"
    missing: dict[str, list[str]] = {}
    for node in ep.graph.nodes:
        val = node.meta.get("val")
        shape_arithmetic = isinstance(val, (torch.SymInt, int)) and not isinstance(val, bool)
        if node.op == "call_function" and node.target not in RULES and not shape_arithmetic:
            missing.setdefault(str(node.target), []).append(node.name)
    if not missing:
        return None
    ops = "; ".join(f"{op} (node {', '.join(nodes)})" for op, nodes in missing.items())
    return f"pimc has no rule for {ops}"


def _outputs(ep: torch.export.ExportedProgram) -> list[tuple[str, Any]]:
    from torch.export.graph_signature import TensorArgument
    nodes = {n.name: n for n in ep.graph.nodes}
    return [("tensor", nodes[s.arg.name].meta["val"].dtype) if isinstance(s.arg, TensorArgument)
            else ("constant", getattr(s.arg, "value", None))
            for s in ep.graph_signature.output_specs]


def _run(entry: _Compiled, args: tuple):
    from pimc.frontend.fx_import import _to_numpy
    results = iter(entry.program(*[_to_numpy(args[i]) for i in entry.inputs]))
    # copies: the backend may reuse its output buffers on the next call
    outs = [torch.tensor(next(results)).to(value) if kind == "tensor" else value
            for kind, value in entry.outputs]
    return torch.utils._pytree.tree_unflatten(outs, entry.out_spec)
