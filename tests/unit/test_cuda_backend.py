"""The cuda backend in numba-cuda's simulator (no GPU): each kernel against numba-cpu's on tiny
shapes, a 1-layer tiny Llama end to end (prefill + decode, logits and greedy tokens), and the
PTX of every kernel for sm_80 and sm_90 (compiled in a subprocess without the simulator).

The simulator runs every CUDA thread as a Python thread (a few thousand threads a second), so
shapes are tiny, and the end-to-end tests are marked slow: the 1-layer model takes 1-2 minutes there,
llama-tiny itself (2 layers, vocab 256) ~3 minutes. Skipped without the `cuda` extra (`pip install -e ".[cuda]"`).
"""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from pimc.backends import cuda as cuda_backend

pytestmark = pytest.mark.skipif(not cuda_backend.available(),
                                reason='numba-cuda is not installed (pip install -e ".[cuda]")')

# numba-cuda reads NUMBA_ENABLE_CUDASIM once, when numba.cuda is first imported (its
# core/config.py); set it before anything here imports numba.cuda.
if "numba.cuda" not in sys.modules:
    os.environ["NUMBA_ENABLE_CUDASIM"] = "1"


@pytest.fixture(scope="module")
def dev():
    from numba.cuda.core import config
    if not config.ENABLE_CUDASIM:
        pytest.skip("numba.cuda was imported without NUMBA_ENABLE_CUDASIM=1 earlier in this "
                    "process; run this file on its own")
    from pimc.backends.cuda import device
    return device


def _close(got, want, tol=1e-4):
    got = np.asarray(got)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=0, atol=tol)


def _rand(rng, *shape):
    return rng.standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize("rows", [3, 20])  # the warp GEMV (<= 8 rows) and the tiled GEMM
@pytest.mark.parametrize("bias", [False, True])
def test_linear_matches_numba_cpu(dev, rows, bias):
    from pimc.backends.numba_cpu import kernels as K
    rng = np.random.default_rng(rows)
    x, w, b = _rand(rng, 1, rows, 40), _rand(rng, 19, 40), _rand(rng, 19)
    want = K.linear(x, w, b if bias else None)
    got = dev.linear(dev.upload(x), dev.upload(w), dev.upload(b) if bias else None)
    _close(dev.DeviceTensor(got), want)
    _close(want, x @ w.T + (b if bias else 0), 1e-4)  # and numba-cpu is the plain product


def test_rmsnorm_and_softmax_match_numba_cpu(dev):
    from pimc.backends.numba_cpu import kernels as K
    rng = np.random.default_rng(0)
    x, w = _rand(rng, 2, 3, 150), _rand(rng, 150)  # rows longer than a block: strided loops
    _close(dev.DeviceTensor(dev.rmsnorm(dev.upload(x), dev.upload(w), 1e-6)),
           K.rmsnorm(x, w, 1e-6))
    _close(dev.DeviceTensor(dev.softmax(dev.upload(x * 4), -1)), K.softmax(x * 4, -1))


def test_rope_matches_numba_cpu(dev):
    from pimc.backends.numba_cpu import kernels as K
    rng = np.random.default_rng(1)
    x, cos, sin = _rand(rng, 2, 3, 4, 8), _rand(rng, 2, 1, 4, 8), _rand(rng, 2, 1, 4, 8)
    got = dev.rope(dev.upload(x), dev.upload(cos), dev.upload(sin), "half")
    _close(dev.DeviceTensor(got), K.rope(x, cos, sin, "half"))


def test_prefill_attention_causal_gqa_and_masked(dev):
    from pimc.backends.numba_cpu import kernels as K
    rng = np.random.default_rng(2)
    q, k, v = _rand(rng, 1, 4, 5, 8), _rand(rng, 1, 2, 5, 8), _rand(rng, 1, 2, 5, 8)
    _close(dev.DeviceTensor(dev.attention(dev.upload(q), dev.upload(k), dev.upload(v),
                                          causal=True, scale=0.3)),
           K.attention(q, k, v, causal=True, scale=0.3))
    mask = rng.random((1, 1, 5, 5)) > 0.3
    mask[..., 0] = True  # every query keeps one key
    _close(dev.DeviceTensor(dev.attention(dev.upload(q), dev.upload(k), dev.upload(v),
                                          dev.upload(mask))),
           K.attention(q, k, v, mask))


def test_decode_attention_reads_a_kv_buffer_appended_in_place(dev):
    """A decode step: K/V appended to preallocated device buffers (no copy of the cache), and
    attention over the strided prefix, against numba-cpu on the concatenated cache."""
    from pimc.backends.numba_cpu import kernels as K
    rng = np.random.default_rng(3)
    k0, v0 = _rand(rng, 2, 1, 6, 40), _rand(rng, 2, 1, 6, 40)  # head dim > a warp: 2 per lane
    kn, vn, q = _rand(rng, 2, 1, 1, 40), _rand(rng, 2, 1, 1, 40), _rand(rng, 2, 2, 1, 40)
    kb, vb = dev.kv_buffer(k0, 10), dev.kv_buffer(v0, 10)
    k1, v1 = dev.append(kb, dev.upload(kn), 2), dev.append(vb, dev.upload(vn), 2)
    assert k1.owner is kb.owner and k1.shape == (2, 1, 7, 40)  # in place, one position longer
    kc, vc = np.concatenate([k0, kn], 2), np.concatenate([v0, vn], 2)
    _close(k1, kc, 0)
    _close(dev.DeviceTensor(dev.attention(dev.upload(q), k1, v1)), K.attention(q, kc, vc))


def test_embedding_concat_and_views(dev):
    rng = np.random.default_rng(4)
    table, ids = _rand(rng, 11, 6), np.array([[3, 0, 10], [7, 7, 1]])
    _close(dev.DeviceTensor(dev.embedding(dev.upload(ids), dev.upload(table))), table[ids], 0)
    a, b = _rand(rng, 2, 3, 4), _rand(rng, 2, 3, 5)
    _close(dev.DeviceTensor(dev.concat([dev.upload(a), dev.upload(b)], 2)),
           np.concatenate([a, b], 2), 0)
    t = dev.transpose(dev.upload(a), (1, 0, 2))  # a strided view; reshape copies on the device
    _close(dev.DeviceTensor(dev.reshape(t, (3, 8))), a.transpose(1, 0, 2).reshape(3, 8), 0)
    _close(dev.DeviceTensor(dev.expand(dev.upload(b[:1]), (2, 3, 5))),
           np.broadcast_to(b[:1], (2, 3, 5)), 0)


def _tiny_llama():
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=48, hidden_size=32, intermediate_size=48,
                         num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1,
                         max_position_embeddings=64, rms_norm_eps=1e-6)
    return LlamaForCausalLM(config).eval()


def _end_to_end(dev, model, prompt, steps):
    """Max |logits difference| over prefill and `steps` decode steps, both backends fed the same
    tokens; the cuda program is built from the numba-cpu program's IR (one capture)."""
    import pimc
    from pimc.backends.cuda import CudaBackend
    cpu = pimc.compile(model, backend="numba-cpu")
    gpu = pimc.Program(cpu.ir, cpu.weights, "cuda", cpu.pipeline, CudaBackend().compile(cpu.ir))
    b, t = prompt.shape
    pos, mask = np.tile(np.arange(t), (b, 1)), np.ones((b, t), np.int64)
    (glog, *gcache), (clog, *ccache) = gpu.run("prefill", prompt, pos, mask), \
        cpu.run("prefill", prompt, pos, mask)
    worst = np.abs(np.asarray(glog) - clog).max()
    gcache = [gpu.executable.kv_buffer(c, t + steps) for c in gcache]
    tok = clog[:, -1].argmax(-1)[:, None]
    for step in range(steps):
        p, mask = np.full((b, 1), t + step), np.ones((b, t + step + 1), np.int64)
        glog, *gcache = gpu.run("decode", tok, p, mask, *gcache)
        clog, *ccache = cpu.run("decode", tok, p, mask, *ccache)
        worst = max(worst, np.abs(np.asarray(glog) - clog).max())
        assert all(isinstance(c, dev.DeviceTensor) for c in gcache)  # the caches stay on device
        tok = clog[:, -1].argmax(-1)[:, None]
    return gpu, cpu, worst


@pytest.mark.slow  # 1-2 min: the simulator runs ~10k threads per forward pass of this model
def test_one_layer_llama_prefill_and_decode_match_numba_cpu(dev):
    gpu, cpu, worst = _end_to_end(dev, _tiny_llama(), np.array([[5, 1, 40, 7], [2, 9, 9, 30]]), 2)
    assert worst < 1e-4
    source = gpu.executable.source
    # nothing on llama's path is on the host but the padding mask's int -> bool cast: [B, S]
    # ids of metadata per step (D.attention turns a boolean mask additive on the host too)
    host = [line for line in source.splitlines() if "D.up(" in line]
    assert "@cuda.jit" in source and host and all("attention_mask" in line for line in host), host
    prompt = np.array([[3, 14, 15]])
    assert (gpu.generate(prompt, 3) == cpu.generate(prompt, 3)).all()


@pytest.mark.slow
def test_llama_tiny_prefill_and_decode_match_numba_cpu(dev):
    from pimc.frontend import zoo
    _, _, worst = _end_to_end(dev, zoo.get("llama-tiny").build(), np.array([[1, 5, 9, 2]]), 2)
    assert worst < 1e-4


def test_missing_extra_is_a_one_line_error(monkeypatch):
    import pimc.backends.cuda as backend
    from pimc.errors import PimcError
    monkeypatch.setattr(backend, "available", lambda: False)
    with pytest.raises(PimcError, match=r"backend 'cuda' needs numba-cuda.*pimc\[cuda\]"):
        backend.CudaBackend().stages()[0].run(None)


PTX_SCRIPT = textwrap.dedent(r"""
    import re
    import sys
    import numba.cuda as cuda
    from numba.cuda.core import config
    from numba import float32, int64, types
    assert not config.ENABLE_CUDASIM
    import pimc
    from pimc.backends.cuda import kernels
    found = {name: (k.py_func, sig) for name, (k, sig) in kernels.kernel_signatures().items()}
    # and the kernels generated for a real model: fused elementwise trees, linear epilogues.
    # Loading needs no GPU (numba.cuda compiles at the first launch). An argument's rank is
    # read off its index expression in the source; `float(aN[...])` marks integer positions.
    space = pimc.compile(sys.argv[1], backend="cuda").executable.namespace  # llama-tiny
    for name, fn in space.items():
        if not name.startswith(("cuew_", "cugemv_", "cupost_")):
            continue
        src, names = fn.py_func.__code__, fn.py_func.__code__.co_varnames
        text = open(fn.py_func.__code__.co_filename).read().split(f"def {name}(")[1]
        text = text.split("@cuda.jit")[0]
        def arg(a):
            m = re.search(a + r"\[([^\]]*)\]", text)
            rank = 2 if a in ("x", "w") or m is None and a == "out" else m.group(1).count(",") + 1
            kind = int64 if f"float({a}[" in text else float32
            return types.Array(kind, rank, "A")
        found[name] = (fn.py_func, tuple(arg(a) for a in names[:src.co_argcount]))
    import os, shutil, subprocess, tempfile
    ptxas = shutil.which("ptxas")  # when the CUDA toolkit is on PATH, it must accept the PTX
    for cc in [tuple(map(int, c.split("."))) for c in sys.argv[2].split(",")]:
        for name, (fn, sig) in found.items():
            ptx, _ = cuda.compile_ptx(fn, sig, cc=cc)
            assert f".target sm_{cc[0]}{cc[1]}" in ptx, name
            if ptxas:
                with tempfile.TemporaryDirectory() as tmp:
                    path = os.path.join(tmp, name + ".ptx")
                    open(path, "w").write(ptx)
                    subprocess.run([ptxas, f"-arch=sm_{cc[0]}{cc[1]}", path, "-o",
                                    path + ".cubin"], check=True)
    print(len(found), "kernels")
""")


@pytest.mark.parametrize("ccs", ["8.0", pytest.param("9.0", marks=pytest.mark.slow)])
def test_every_kernel_compiles_to_ptx(tmp_path, ccs):  # A100 and H100; no GPU is needed
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    tiny = tmp_path / "llama-tiny.mlir"  # this process's capture, so the child does not redo it
    from pimc import compile as compile_model
    compile_model("llama-tiny", target=None, backend="null").save(tiny)
    done = subprocess.run([sys.executable, "-c", PTX_SCRIPT, str(tiny), ccs], env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert int(done.stdout.split()[-2]) >= 11
