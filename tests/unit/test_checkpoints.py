"""Pretrained checkpoints: save_pretrained folders, GGUF files, layer cloning with real
weights, tokenizers, and what a broken or missing checkpoint gets. The references are HF
transformers (its own safetensors and GGUF loaders) and the fully traced model."""
import numpy as np
import pytest
import torch
import transformers

import pimc
from pimc.cli import main
from pimc.frontend.checkpoint import capture_checkpoint, open_checkpoint, traced_layers
from pimc.frontend.hf import capture
from pimc.ir import print_module

WORDS = [f"w{i}" for i in range(60)]


def _tokenizer():
    """A word-level tokenizer over WORDS, built offline, as a folder would carry one."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2, "<pad>": 3} | {w: i + 4 for i, w in enumerate(WORDS)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return transformers.PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>",
                                                bos_token="<s>", eos_token="</s>",
                                                pad_token="<pad>")


def _save(folder, config_cls, model_cls, **config):
    torch.manual_seed(0)
    model = model_cls(config_cls(vocab_size=64, hidden_size=32, num_attention_heads=4,
                                 intermediate_size=64, max_position_embeddings=64, **config)).eval()
    model.save_pretrained(folder)
    _tokenizer().save_pretrained(folder)
    return model


@pytest.fixture(scope="module")
def llama_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("llama4")
    return folder, _save(folder, transformers.LlamaConfig, transformers.LlamaForCausalLM,
                         num_hidden_layers=4, num_key_value_heads=2)


def test_cloned_layers_print_exactly_the_fully_traced_ir(llama_folder):
    """2 layers traced with the checkpoint's weights, 2 cloned: the IR text is the one a trace
    of all 4 layers prints, and every weight of the store is the checkpoint's."""
    folder, model = llama_folder
    cloned, store = capture_checkpoint(open_checkpoint(folder))
    assert cloned.attributes.pop("pimc.checkpoint").value == str(folder)
    traced, _ = capture(model)
    assert print_module(cloned) == print_module(traced)
    for name, p in model.named_parameters():
        np.testing.assert_array_equal(store[name], p.detach().numpy())


def test_layers_of_two_types_clone_from_their_own_type(tmp_path):
    """Gemma 3 alternates sliding and full attention layers: three are traced (layer 1 is the
    sliding template, layer 2 the full one) and the clones match a full trace."""
    model = _save(tmp_path, transformers.Gemma3TextConfig, transformers.Gemma3ForCausalLM,
                  num_hidden_layers=5, num_key_value_heads=1, head_dim=8, sliding_window=4,
                  layer_types=(["sliding_attention", "sliding_attention", "full_attention"]
                               * 2)[:5])  # layers 3 and 4 are clones, one of each type
    assert traced_layers(model.config)[0] == 3
    cloned, _ = capture_checkpoint(open_checkpoint(tmp_path))
    del cloned.attributes["pimc.checkpoint"]
    assert print_module(cloned) == print_module(capture(model)[0])


def test_a_folder_compiles_runs_and_generates_text_like_hf(llama_folder):
    folder, model = llama_folder
    prog = pimc.compile(str(folder), backend="numba-cpu")
    ids = np.array([[5, 9, 14, 7, 30]])
    with torch.no_grad():
        ref = model(torch.from_numpy(ids)).logits.numpy()
    assert np.abs(prog(ids)[0] - ref).max() < 1e-4  # positions default to arange, as in HF
    tok = prog.tokenizer
    prompt = "w1 w7 w3 w40"
    with torch.no_grad():
        hf = model.generate(torch.tensor([tok(prompt).input_ids]), max_new_tokens=8,
                            min_new_tokens=8, do_sample=False, pad_token_id=tok.pad_token_id)
    assert prog.generate(prompt, 8) == tok.decode(hf[0], skip_special_tokens=True)
    assert prog.generate([prompt, "w2"], 8)[0] == prog.generate(prompt, 8)


def test_the_program_prints_its_ir(llama_folder):
    prog = pimc.compile(str(llama_folder[0]), backend="null", target=None)
    text = str(prog.ir)
    assert text.startswith("builtin.module") and "func.func @decode" in text
    assert text == print_module(prog.ir).rstrip("\n")


def test_generate_needs_a_tokenizer_for_text():
    prog = pimc.compile("llama-tiny", backend="numba-cpu", target=None)
    assert prog.tokenizer is None
    with pytest.raises(pimc.errors.PimcError, match="has no tokenizer"):
        prog.generate("hello", 2)


def test_run_continues_a_text_prompt(llama_folder, capsys):
    folder, model = llama_folder
    assert main(["run", str(folder), "--prompt", "w1 w2 w3", "--max-new-tokens", "4"]) == 0
    out = capsys.readouterr().out.strip()
    assert out.startswith("w1 w2 w3") and len(out.split()) >= 4


@pytest.mark.parametrize("argv, message", [
    (["run", "llama-tiny", "--prompt", "hi"], "--prompt: 'llama-tiny' has no tokenizer"),
    (["run", "llama-tiny", "--prompt", "hi", "--prompt-ids", "1"], "exclude each other"),
    (["compile", "missing/model.gguf"], "cannot read 'missing/model.gguf': no such file"),
    (["compile", "missing/folder"], "cannot read 'missing/folder': no such file or folder"),
])
def test_cli_errors_are_one_line(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_a_folder_without_config_is_named(tmp_path, capsys):
    (tmp_path / "model.safetensors").write_bytes(b"")
    assert main(["compile", str(tmp_path)]) == 2
    assert f"{tmp_path}: no config.json" in capsys.readouterr().err
