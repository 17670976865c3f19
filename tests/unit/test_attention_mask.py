"""llm.attention's padding mask, sliding window and soft-capping, in every implementation (the
interpreter's numpy reference, numba-cpu's kernel, the cuda kernel in numba's simulator),
against torch's scaled_dot_product_attention with an explicit mask (soft-capping against torch's
own tanh of the scores, which SDPA cannot express). Left-pad query rows attend to no key: they
must come out as zeros, and NaNs in the pad positions' K/V must not reach the real rows."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from pimc.backends.numba_cpu import kernels as K
from pimc.ir import reference_ops as ref

# Rows of a left-padded batch: 2, 0 and 3 pads in front of 7 keys.
PADS = (2, 0, 3)


def _rand(rng, *shape):
    return rng.standard_normal(shape).astype(np.float32)


def _inputs(seed: int, t: int, s: int = 7, hq: int = 4, hkv: int = 2, d: int = 8):
    rng = np.random.default_rng(seed)
    q, k, v = _rand(rng, len(PADS), hq, t, d), _rand(rng, len(PADS), hkv, s, d), \
        _rand(rng, len(PADS), hkv, s, d)
    padding = np.ones((len(PADS), s), bool)
    for row, pads in enumerate(PADS):
        padding[row, :pads] = False
    return q, k, v, padding[:, None, None, :]


def _torch_attention(q, k, v, padding, causal, window=None, softcap=None, scale=None):
    """The expected output: torch's SDPA (or its math, with a soft cap) under the explicit
    [B, 1, T, S] mask HF builds (masking_utils: causal, sliding window, padding); rows with
    no key at all are zeros, as flash-attention gives them."""
    t, s = q.shape[2], k.shape[2]
    pos = torch.arange(t)[:, None] + s - t
    key = torch.arange(s)[None, :]
    allowed = torch.from_numpy(padding) & torch.ones(t, s, dtype=torch.bool)
    if causal:
        allowed = allowed & (key <= pos)
    if window is not None:
        allowed = allowed & (key > pos - window)
    tq, tk, tv = (torch.from_numpy(a) for a in (q, k, v))
    if softcap is None:
        out = F.scaled_dot_product_attention(tq, tk, tv, attn_mask=allowed, scale=scale,
                                             enable_gqa=True)
    else:
        groups = q.shape[1] // k.shape[1]
        tk, tv = tk.repeat_interleave(groups, 1), tv.repeat_interleave(groups, 1)
        scores = tq @ tk.transpose(-1, -2) * (scale or 1 / math.sqrt(q.shape[-1]))
        scores = torch.tanh(scores / softcap) * softcap
        out = torch.softmax(scores.masked_fill(~allowed, -torch.inf), -1) @ tv
    return torch.where(allowed.any(-1, keepdim=True), out, 0).numpy()


def _cuda_attention(q, k, v, mask, **kw):
    from numba.cuda.core import config
    if not config.ENABLE_CUDASIM:
        pytest.skip("numba.cuda was imported without NUMBA_ENABLE_CUDASIM=1")
    from pimc.backends.cuda import device as dev
    return np.asarray(dev.DeviceTensor(dev.attention(
        dev.upload(q), dev.upload(k), dev.upload(v), dev.upload(mask), **kw)))


def _hf_capture_op(q, k, v, mask, causal=False, scale=None, window=None, softcap=None):
    """torch.ops.pimc.attention run eagerly: what the HF capture traces."""
    from pimc.frontend.hf_attention import OP
    t = [torch.from_numpy(a) for a in (q, k, v, mask)]
    return OP(*t, causal, scale, window, softcap).numpy()


IMPLEMENTATIONS = {"interpreter": ref.attention, "numba-cpu": K.attention,
                   "torch-op": _hf_capture_op}
CASES = {  # name: (query length, llm.attention attributes)
    "prefill-causal": (7, dict(causal=True)),
    "decode": (1, dict(causal=False)),
    "prefill-window": (7, dict(causal=True, window=3)),
    "decode-window": (1, dict(causal=False, window=4)),
    "softcap": (7, dict(causal=True, softcap=0.5, scale=0.9)),
    "window-softcap": (7, dict(causal=True, window=2, softcap=2.0)),
}


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize("case", CASES)
def test_attention_equals_torch_with_an_explicit_mask(impl, case):
    t, attrs = CASES[case]
    q, k, v, padding = _inputs(list(CASES).index(case), t)
    got = IMPLEMENTATIONS[impl](q, k, v, padding, **attrs)
    np.testing.assert_allclose(got, _torch_attention(q, k, v, padding, **attrs), atol=2e-6)


@pytest.mark.parametrize("impl", ["interpreter", "numba-cpu"])  # the kernels pimc runs
def test_pad_rows_are_zero_and_pad_nans_stay_out(impl):
    q, k, v, padding = _inputs(5, 7)
    want = _torch_attention(q, k, v, padding, causal=True)
    k[0, :, :PADS[0]] = np.nan  # whatever a pad position computed must not matter
    v[2, :, :PADS[2]] = np.inf
    got = IMPLEMENTATIONS[impl](q, k, v, padding, causal=True)
    assert np.isfinite(got).all()
    assert not got[0, :, :PADS[0]].any() and not got[2, :, :PADS[2]].any()
    np.testing.assert_allclose(got, want, atol=2e-6)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_an_additive_mask_is_added_after_the_soft_cap(impl):
    q, k, v, padding = _inputs(6, 3)
    bias = np.where(padding, np.float32(0.25), -np.inf).astype(np.float32)
    got = IMPLEMENTATIONS[impl](q, k, v, bias, causal=True, softcap=1.0)
    shift = IMPLEMENTATIONS[impl](q, k, v, padding, causal=True, softcap=1.0)
    np.testing.assert_allclose(got, shift, atol=2e-6)  # a constant bias per row cancels


@pytest.mark.parametrize("case", ["prefill-causal", "decode-window", "window-softcap"])
def test_cuda_kernel_equals_torch_with_padding(case):
    t, attrs = CASES[case]
    q, k, v, padding = _inputs(7, t, s=6, hq=2, hkv=1, d=40)  # head dim > a warp: 2 per lane
    k[2, :, :PADS[2]] = np.nan
    got = _cuda_attention(q, k, v, padding, **attrs)
    k[2, :, :PADS[2]] = 0
    np.testing.assert_allclose(got, _torch_attention(q, k, v, padding, **attrs), atol=1e-5)
