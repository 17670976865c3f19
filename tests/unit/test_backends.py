"""The backend registry (entry points) and the contract core code relies on."""
from importlib.metadata import EntryPoint

import pytest

from pimc.backends import registry
from pimc.backends.base import Backend, Capabilities, RuleTable, Stage, UnsupportedByBackend
from pimc.cli import main
from pimc.errors import PimcError, UnknownNameError
from pimc.ir import parse

MODULE = """func.func @f(%a: tensor<Bx4xf32>, %b: tensor<Bx4xf32>) -> tensor<Bx4xf32> {
  %c = "llm.add"(%a, %b) : (tensor<Bx4xf32>, tensor<Bx4xf32>) -> tensor<Bx4xf32>
  %d = "llm.exp"(%c) : (tensor<Bx4xf32>) -> tensor<Bx4xf32>
  func.return %d : tensor<Bx4xf32>
}"""


class AddOnly(Backend):
    name = "add-only"
    capabilities = Capabilities(ops=frozenset({"llm.add"}))

    def stages(self, options=None):
        return [Stage("count", lambda m: sum(1 for _ in m.walk()))]


def test_null_backend_is_discovered_through_its_entry_point():
    assert "null" in registry.names()
    assert registry.distribution("null") == "pimc"
    backend = registry.get("null")
    assert backend.compile(parse(MODULE)) is not None


def test_unknown_backend_lists_the_installed_ones():
    with pytest.raises(UnknownNameError, match=r"unknown backend 'nul' \(did you mean 'null'\?\); valid: .*null"):
        registry.get("nul")


def test_two_distributions_registering_one_name_is_an_error(monkeypatch):
    eps = [EntryPoint("dup", "pkg_a.mod:A", registry.GROUP), EntryPoint("dup", "pkg_b.mod:B", registry.GROUP)]
    monkeypatch.setattr(registry, "entry_points", lambda group: eps)
    registry._entry_points.cache_clear()
    try:
        with pytest.raises(PimcError, match=r"two installed packages register backend 'dup'.*pkg_a.mod:A.*pkg_b.mod:B"):
            registry.names()
    finally:
        registry._entry_points.cache_clear()


def test_backend_refuses_ops_outside_its_capabilities():
    with pytest.raises(UnsupportedByBackend, match=r"backend 'add-only' has no rule for 'llm.exp' at .*:3:3; it supports: llm.add"):
        AddOnly().compile(parse(MODULE, "m.mlir"))


def test_stages_run_in_order_and_can_be_dumped():
    dumped = []
    AddOnly.capabilities = Capabilities(ops=frozenset({"llm.add", "llm.exp"}))
    try:
        result = AddOnly().compile(parse(MODULE), dump=lambda name, art: dumped.append((name, art)))
    finally:
        AddOnly.capabilities = Capabilities(ops=frozenset({"llm.add"}))
    assert result == 5 and dumped == [("count", 5)]


def test_rule_table_names_op_and_backend_and_overrides_entries():
    base = RuleTable("cpu", {"llm.add": lambda: "cpu-add", "llm.exp": lambda: "cpu-exp"})
    gpu = base.override("gpu", llm__exp=lambda: "gpu-exp")
    assert gpu["llm.add"]() == "cpu-add" and gpu["llm.exp"]() == "gpu-exp"
    with pytest.raises(UnsupportedByBackend, match="backend 'gpu' has no rule for 'llm.rope'; it supports: llm.add, llm.exp"):
        gpu["llm.rope"]


def test_cli_lists_backends(capsys):
    assert main(["backends"]) == 0
    assert any(line.startswith("null ") for line in capsys.readouterr().out.splitlines())


def test_cli_unknown_backend_via_compile_is_a_user_error(capsys):
    import pimc
    with pytest.raises(UnknownNameError):
        pimc.compile("llama-tiny", backend="numba-gpu")
