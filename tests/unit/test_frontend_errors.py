"""Bad input to the frontends and `pimc compile`: one clear error, exit 2, nothing written."""
import onnx
import pytest
import torch

import pimc
from pimc.cli import main
from pimc.errors import PimcError, UnknownNameError
from pimc.frontend.fx_import import UnsupportedOp
from pimc.frontend.torch_export import ExportError, export


class DataDependent(torch.nn.Module):
    def forward(self, x):
        if x.sum() > 0:  # control flow on a value: torch.export cannot trace it
            return x * 2
        return x


def test_unsupported_aten_op_names_op_node_module_and_alternatives(unsupported_module, cumprod_frame):
    with pytest.raises(UnsupportedOp) as err:
        export(unsupported_module, (torch.randn(2, 4),))
    msg = str(err.value)
    assert "aten.cumprod.default" in msg and "at node cumprod" in msg
    assert "frontend supports:" in msg and "aten.mm.default" in msg
    assert cumprod_frame in msg  # the Python frame of the cumprod call
    assert "pimc/frontend/aten_ops.py" in msg  # the hint says where a rule would go


def test_untraceable_module_keeps_torchs_message():
    with pytest.raises(ExportError) as err:
        export(DataDependent(), (torch.randn(3),))
    assert "torch.export could not trace DataDependent" in err.value.message
    assert "data-dependent" in str(err.value).lower() or "guard" in str(err.value).lower()
    assert isinstance(err.value, PimcError) and err.value.__cause__ is not None


def test_plain_module_needs_example_inputs(unsupported_module):
    with pytest.raises(PimcError, match="needs example_inputs"):
        pimc.compile(unsupported_module)


def test_compile_plain_module_with_inputs_runs_in_the_interpreter():
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.SiLU(), torch.nn.Linear(8, 2))
    x = torch.randn(3, 4)
    prog = pimc.compile(model, (x,))
    (y,) = prog.interpret("forward", x.numpy())
    assert abs(y - model(x).detach().numpy()).max() < 1e-5
    assert prog.op_histogram()["llm.linear"] == 2 and prog.op_histogram()["llm.silu"] == 1


def test_unknown_zoo_model_lists_the_zoo():
    with pytest.raises(UnknownNameError, match="llama-tiny"):
        pimc.compile("llama-tiy")


def test_cli_unknown_model_exits_2_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "out.mlir"
    assert main(["compile", "gpt9-tiny", "--emit", "ir", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("pimc: error: unknown model 'gpt9-tiny'") and "gpt2-tiny" in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not out.exists()


def _onnx_model(op: str, *extra_inputs: str, initializers=(), **attrs) -> onnx.ModelProto:
    node = onnx.helper.make_node(op, ["x", *extra_inputs], ["y"], name=f"my_{op.lower()}", **attrs)
    io = [onnx.helper.make_tensor_value_info(n, onnx.TensorProto.FLOAT, ["N", 4]) for n in "xy"]
    graph = onnx.helper.make_graph([node], "g", io[:1], io[1:], list(initializers))
    return onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 18)])


def _bad_onnx_files(tmp_path):
    """(file, what the one-line error must say) for each kind of bad ONNX input."""
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(b"\x08\x07\x12\xff\xff not a protobuf")
    unchecked = tmp_path / "unchecked.onnx"
    onnx.save(_onnx_model("Relu", "ghost"), unchecked)  # Relu takes one input; ghost is undefined
    unsupported = tmp_path / "unsupported.onnx"
    onnx.save(_onnx_model("Hardmax", axis=-1), unsupported)  # no LLM exporter writes it
    return [(corrupt, [f"{corrupt}: not a readable ONNX model"]),
            (unchecked, [f"{unchecked}: onnx.checker rejects the model", "Relu"]),
            (unsupported, ["unsupported ONNX op 'Hardmax' at node 'my_hardmax'", str(unsupported),
                           "the ONNX frontend supports: Add, ", "MatMul", "Hint: add a rule in "
                           "pimc/frontend/onnx_ops.py"])]


def test_bad_onnx_input_is_one_pimc_error(tmp_path):
    for path, wanted in _bad_onnx_files(tmp_path):
        with pytest.raises(PimcError) as err:
            pimc.compile(str(path))
        assert all(w in err.value.message for w in wanted), err.value.message
        assert "\n" not in str(err.value)


def test_cli_bad_onnx_exits_2_with_one_line_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "out.mlir"
    for path, wanted in _bad_onnx_files(tmp_path):
        assert main(["compile", str(path), "-o", str(out)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("pimc: error: ") and err.count("\n") == 1, err
        assert wanted[0] in err and "Traceback" not in err
        assert not out.exists()


def test_cli_missing_onnx_file(tmp_path, capsys):
    assert main(["compile", str(tmp_path / "m.onnx")]) == 2
    assert f"cannot read '{tmp_path / 'm.onnx'}': no such file" in capsys.readouterr().err


def test_cli_bad_emit_kind(capsys):
    assert main(["compile", "llama-tiny", "--emit", "binary"]) == 2
    assert "--emit: unknown kind 'binary'; valid: ir, program" in capsys.readouterr().err


def test_cli_compile_writes_parseable_ir(tmp_path, capsys):
    out = tmp_path / "tiny.mlir"
    assert main(["compile", "llama-tiny", "--emit", "ir", "-o", str(out)]) == 0
    module = pimc.load(out).ir
    assert sum(op.name == "llm.attention" for op in module.func("decode").body.ops) == 2
    assert "@decode:" in capsys.readouterr().err


def test_program_save_and_load_keep_weights(tmp_path):
    prog = pimc.compile("gpt2-tiny")
    prog.save(tmp_path / "g.mlir")
    back = pimc.load(tmp_path / "g.mlir")
    assert str(back.ir.func("decode").function_type) == str(prog.ir.func("decode").function_type)
    name = "lm_head.weight"  # export keeps one name for the tied wte/lm_head
    assert (back.weights[name] == prog.weights[name]).all()
    assert not any(n.startswith("lifted_tensor") for n in back.weights.specs)
    assert back.weights.num_params == prog.weights.num_params
