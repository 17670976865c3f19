"""Pretrained checkpoints as people hold them: a GGUF file, or a `save_pretrained` folder
(config.json and safetensors).

A `Checkpoint` is the HF config, the tensors under their HF names (float32 numpy, dequantised
from GGUF blocks in this version) and, where the checkpoint has one, its tokenizer. Capturing
one (`capture_checkpoint`) traces only the first layers on the CPU with their real weights and
clones the rest in the IR (`replicate.py`), each clone reading its own layer's weights from the
store: SmolLM2-135M's 30 layers cost the trace of 2.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pimc.errors import PimcError
from pimc.ir.attrs import StrAttr
from pimc.frontend.gguf_reader import GGUFError, GGUFFile

# GGUF architecture names that differ from transformers' model_type (llama.cpp's
# gguf-py constants.py MODEL_ARCH_NAMES against transformers' CONFIG_MAPPING)
_MODEL_TYPE = {"gemma3": "gemma3_text", "qwen2moe": "qwen2_moe", "qwen3moe": "qwen3_moe",
               "command-r": "cohere", "gpt-oss": "gpt_oss"}
_TOKEN_IDS = {"bos_token_id": "tokenizer.ggml.bos_token_id",
              "eos_token_id": "tokenizer.ggml.eos_token_id",
              "pad_token_id": "tokenizer.ggml.padding_token_id",
              "unk_token_id": "tokenizer.ggml.unknown_token_id"}


@dataclass
class Checkpoint:
    """A pretrained model: its HF config, tensors by HF name, and a tokenizer loader."""

    source: Path
    config: object  # transformers.PretrainedConfig
    tensors: dict[str, np.ndarray] = field(repr=False)

    def model_class(self):
        from transformers import AutoModelForCausalLM
        from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING
        if type(self.config) not in MODEL_FOR_CAUSAL_LM_MAPPING:
            raise PimcError(f"{self.source}: model type '{self.config.model_type}' has no causal "
                            "LM class in transformers")
        return AutoModelForCausalLM


def open_checkpoint(path: str | Path) -> Checkpoint:
    """A .gguf file or a `save_pretrained` folder."""
    path = Path(path)
    if path.suffix == ".gguf":
        return gguf_checkpoint(path)
    if path.is_dir():
        return folder_checkpoint(path)
    if not path.exists():
        raise PimcError(f"cannot read '{path}': no such file or folder")
    raise PimcError(f"'{path}' is not a checkpoint pimc reads; expected a .gguf file or a "
                    "save_pretrained folder (config.json and *.safetensors)")


def checkpoint_config(path: str | Path):
    """The HF config of a checkpoint, without reading its tensors."""
    from transformers import AutoConfig
    path = Path(path)
    if path.suffix == ".gguf":
        return gguf_config(GGUFFile(path))
    return AutoConfig.from_pretrained(path)


def gguf_checkpoint(path: Path) -> Checkpoint:
    gguf = GGUFFile(path)
    config = gguf_config(gguf)
    return Checkpoint(path, config, gguf_tensors(gguf, config))


def gguf_config(gguf: GGUFFile):
    """The HF config the file describes, through transformers' GGUF key table
    (transformers/integrations/ggml.py GGUF_CONFIG_MAPPING), as `from_pretrained(gguf_file=)`
    builds it."""
    from transformers import AutoConfig
    from transformers.integrations.ggml import GGUF_CONFIG_DEFAULTS_MAPPING, GGUF_CONFIG_MAPPING
    arch = gguf.architecture
    if arch not in GGUF_CONFIG_MAPPING:
        raise GGUFError(f"{gguf.path}: architecture '{arch}' has no transformers config mapping; "
                        f"supported: {', '.join(sorted(GGUF_CONFIG_MAPPING))}")
    model_type = _MODEL_TYPE.get(arch, arch)
    values = dict(GGUF_CONFIG_DEFAULTS_MAPPING.get(model_type, {}))
    renames = GGUF_CONFIG_MAPPING[arch]
    for key, value in gguf.metadata.items():
        prefix, _, rest = key.partition(".")
        if prefix == arch and renames.get(rest) not in (None, -1):
            values[renames[rest]] = value
    values |= {name: gguf.metadata[key] for name, key in _TOKEN_IDS.items()
               if key in gguf.metadata}
    values.setdefault("vocab_size", gguf.metadata.get("tokenizer.ggml.tokens"))
    # llama.cpp writes no `output.weight` when the LM head is the embedding
    values["tie_word_embeddings"] = "output.weight" not in gguf.tensors
    try:
        return AutoConfig.for_model(model_type, **values)
    except ValueError as e:
        raise GGUFError(f"{gguf.path}: transformers has no config for model type "
                        f"'{model_type}' ({e})") from None


def gguf_tensors(gguf: GGUFFile, config) -> dict[str, np.ndarray]:
    """Every tensor under its HF name, as transformers loads it: gguf-py's name table and
    transformers' per-architecture fix-ups (llama's q/k rotary permutation undone, Gemma's
    norms stored as w + 1; transformers/modeling_gguf_pytorch_utils.py TENSOR_PROCESSORS)."""
    from transformers.modeling_gguf_pytorch_utils import TENSOR_PROCESSORS, TensorProcessor
    processor = TENSOR_PROCESSORS.get(gguf.architecture, TensorProcessor)(config=config.to_dict())
    names = gguf_to_hf_names(gguf, config)
    parsed: dict = {"tensors": {}, "config": config.to_dict()}
    out = {}
    for gguf_name in gguf.tensors:
        result = processor.process(weights=gguf.tensor(gguf_name), name=gguf_name,
                                   tensor_key_mapping=names, parsed_parameters=parsed)
        if result.name in names:
            out[names[result.name]] = np.ascontiguousarray(result.weights, dtype=np.float32)
    out |= {k: v.float().numpy() for k, v in parsed["tensors"].items()}  # split MoE experts
    return out


def gguf_to_hf_names(gguf: GGUFFile, config) -> dict[str, str]:
    """GGUF tensor name -> HF parameter name, from gguf-py's TensorNameMap (the table llama.cpp's
    converter writes names with). transformers' get_gguf_hf_weights_map does the same but
    rebuilds the table once per submodule (19 s for SmolLM2); one table serves every name here,
    looked up with the module path's leading components dropped one at a time, as that
    recursion does."""
    import torch
    from gguf import MODEL_ARCH_NAMES, get_tensor_name_map
    from transformers import AutoModelForCausalLM
    arch = next((k for k, v in MODEL_ARCH_NAMES.items() if v == gguf.architecture), None)
    if arch is None:
        raise GGUFError(f"{gguf.path}: gguf-py has no tensor names for architecture "
                        f"'{gguf.architecture}'")
    table = get_tensor_name_map(arch, config.num_hidden_layers)
    with torch.device("meta"):
        skeleton = AutoModelForCausalLM.from_config(config)
    names = {}
    for hf_name in skeleton.state_dict():
        stem, dot, suffix = hf_name.rpartition(".")
        if suffix not in ("weight", "bias"):
            stem, dot, suffix = hf_name, "", ""
        parts = stem.split(".")
        found = next((g for g in (table.get_name(".".join(parts[i:])) for i in range(len(parts)))
                      if g is not None), None)
        if found is not None:
            names.setdefault(found + dot + suffix, hf_name)
    return names


def folder_checkpoint(path: Path) -> Checkpoint:
    from transformers import AutoConfig
    if not (path / "config.json").is_file():
        raise PimcError(f"{path}: no config.json; a save_pretrained folder has config.json and "
                        "*.safetensors")
    files = sorted(path.glob("*.safetensors"))
    if not files:
        raise PimcError(f"{path}: no *.safetensors file beside config.json")
    config = AutoConfig.from_pretrained(path)
    tensors = {}
    for file in files:
        tensors |= _safetensors(file)
    return Checkpoint(path, config, tensors)


def _safetensors(file: Path) -> dict[str, np.ndarray]:
    from safetensors import SafetensorError, safe_open
    try:
        with safe_open(file, framework="pt") as f:  # torch reads bf16, numpy does not
            return {k: f.get_tensor(k).float().numpy() for k in f.keys()}
    except (SafetensorError, OSError) as e:
        raise PimcError(f"{file}: not a readable safetensors file ({e})") from None


def load_tokenizer(source: str | Path):
    """The tokenizer a checkpoint carries (a GGUF vocabulary, or a folder's tokenizer files),
    as transformers builds it; None when it has none."""
    from transformers import AutoTokenizer
    path = Path(source)
    if path.suffix == ".gguf" and path.is_file():
        return cached_tokenizer(path, lambda: AutoTokenizer.from_pretrained(
            path.parent, gguf_file=path.name))
    if any((path / f).is_file() for f in ("tokenizer.json", "tokenizer_config.json")):
        return AutoTokenizer.from_pretrained(path)
    return None


def cached_tokenizer(path: Path, build: Callable[[], object]):
    """Rebuilding a tokenizer from a GGUF vocabulary takes seconds; its `save_pretrained` form
    loads in a fraction of that. Cached per file (size and modification time) under
    the cache root (caches.cache_root)."""
    import hashlib
    import os
    import shutil

    from transformers import AutoTokenizer
    stat = path.stat()
    key = hashlib.sha256(f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()
    from pimc.caches import cache_root
    folder = cache_root() / "tokenizers" / key[:16]
    if (folder / "tokenizer_config.json").is_file():
        return AutoTokenizer.from_pretrained(folder)
    tokenizer = build()
    tmp = folder.with_name(folder.name + f".tmp{os.getpid()}")
    tokenizer.save_pretrained(tmp)
    if folder.exists():  # another process cached it meanwhile
        shutil.rmtree(tmp)
    else:
        tmp.replace(folder)
    return tokenizer


def traced_layers(config) -> tuple[int, Callable[[int], int]]:
    """How many leading layers to trace, and which traced layer each later one copies. Layers
    differ only by `config.layer_types` (sliding or full attention); a template needs a traced
    layer before it (its input), so tracing stops at the first n >= 2 whose layers 1..n-1
    include every type."""
    total = config.num_hidden_layers
    types = list(getattr(config, "layer_types", None) or ["decoder"] * total)
    n = min(2, total)
    while n < total and set(types[1:n]) != set(types):
        n += 1
    last = {t: i for i, t in enumerate(types[:n]) if i >= 1}
    return n, lambda layer: last[types[layer]]


def capture_checkpoint(ckpt: Checkpoint, frontend: str = "torch-export"):
    """@prefill and @decode of the checkpoint's model, with its real weights in the store."""
    import copy

    import torch

    from pimc.frontend.replicate import layer_list_prefix, replicate_layers
    from pimc.frontend.zoo import hf_capture
    config = ckpt.config
    n, template_of = traced_layers(config)
    small = copy.deepcopy(config)
    small.num_hidden_layers = n
    if getattr(config, "layer_types", None):
        small.layer_types = list(config.layer_types[:n])
    model = _with_weights(ckpt, ckpt.model_class().from_config(small, dtype=torch.float32))
    module, store = hf_capture(frontend)(model)
    if n < config.num_hidden_layers:
        prefix = layer_list_prefix(model)
        for func in module.funcs:
            replicate_layers(func, prefix, n - 1, config.num_hidden_layers, template_of)
        for name, array in ckpt.tensors.items():
            if name.startswith(prefix) and name not in store:
                store.add(name, array)
    # where the weights (and the tokenizer) came from: Program.tokenizer reads it
    module.attributes["pimc.checkpoint"] = StrAttr(str(ckpt.source))
    return module, store


def _with_weights(ckpt: Checkpoint, model):
    """`model` (the first layers of the checkpoint's architecture) holding the checkpoint's
    tensors; a parameter the checkpoint lacks is an error, unless it is tied to one it has."""
    import torch
    wanted = model.state_dict()
    tied = {name for name, p in model.named_parameters(remove_duplicate=False)} - \
        {name for name, p in model.named_parameters()}
    missing = [k for k in wanted if k not in ckpt.tensors and k not in tied]
    if missing:
        raise PimcError(f"{ckpt.source}: the checkpoint has no tensor '{missing[0]}' "
                        f"({len(missing)} missing) for {type(model).__name__}")
    for name, t in wanted.items():
        if name in ckpt.tensors and tuple(ckpt.tensors[name].shape) != tuple(t.shape):
            raise PimcError(f"{ckpt.source}: tensor '{name}' has shape "
                            f"{list(ckpt.tensors[name].shape)}; the config makes it {list(t.shape)}")
    model.load_state_dict({k: torch.from_numpy(v) for k, v in ckpt.tensors.items() if k in wanted},
                          strict=False)
    model.tie_weights()
    return model.eval()
