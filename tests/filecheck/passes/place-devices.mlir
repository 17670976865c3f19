// place-devices under every preset: pick-min over roofline times at B = 64, S = 2048 (decode,
// T = 1), then the fixed policies, pins, batch 1 with a prefill function, and the batch sweep.
// RUN: pimc opt %s -p 'place-devices{target=neupims,batch=64}' | filecheck %s --check-prefix=NEUPIMS
// RUN: pimc opt %s -p 'place-devices{target=npu-pim-naive,batch=64}' | filecheck %s --check-prefix=NEUPIMS
// RUN: pimc opt %s -p 'place-devices{target=npu-only,batch=64}' | filecheck %s --check-prefix=NPU
// RUN: pimc opt %s -p 'place-devices{target=attacc-bank,batch=64}' | filecheck %s --check-prefix=BANK
// RUN: pimc opt %s -p 'place-devices{target=attacc-bg,batch=64}' | filecheck %s --check-prefix=MHAPIM
// RUN: pimc opt %s -p 'place-devices{target=attacc-buffer,batch=64}' | filecheck %s --check-prefix=XPU
// RUN: pimc opt %s -p 'place-devices{target=duplex,batch=64}' | filecheck %s --check-prefix=DUPLEX
// RUN: pimc opt %s -p 'place-devices{target=hbm-pim,batch=64}' | filecheck %s --check-prefix=MHAPIM
// RUN: pimc opt %s -p 'place-devices{target=gpu-a100,batch=64}' | filecheck %s --check-prefix=XPU
// RUN: pimc opt %s -p 'place-devices{target=gpu-h100,batch=64}' | filecheck %s --check-prefix=XPU
// RUN: pimc opt %s -p 'place-devices{target=neupims,policy=neupims,batch=64}' | filecheck %s --check-prefix=RULE-NEUPIMS
// RUN: pimc opt %s -p 'place-devices{target=duplex,policy=duplex,batch=64}' | filecheck %s --check-prefix=RULE-DUPLEX
// RUN: pimc opt %s -p 'place-devices{target=gpu-h100,pin="silu:xpu,*attention:xpu",batch=64}' | filecheck %s --check-prefix=XPU
// RUN: pimc opt %s -p 'place-devices{target=neupims,sweep=true}' 2>&1 | filecheck %s --check-prefix=SWEEP
//
// Costs at B = 64, S = 2048, f16 (analyze-intensity): the FFN linear 5.77e9 flops over 9.21e7
// bytes (Op/B 63), MHA attention Op/B 1.02 (2.15e9 bytes of K/V), GQA-8 attention Op/B 8.1,
// the MoE Op/B 16 (64 tokens x top-2 of 8 experts touch all 8: 2.82e9 bytes).
// Roofline times, max(flops / peak, bytes / bandwidth) + overhead, in us:
//   neupims   linear npu 9.21e7 / 1.024e12 = 90.0, pim 5.77e9 / 8.19e12 = 704.5;
//             MHA npu 2098, pim 267; GQA npu 526.3, pim 533.5 (a tie at Op/B 8 = 8.19/1.024);
//             moe npu 2754, pim 5508. npu-pim-naive has the same roofline (one row buffer
//             costs nothing here; it matters to the simulator).
//   attacc-bank  (AttAcc's default power constraint: nCCDAB 6, so bank PIM's 35.5 TFLOP/s
//             and 35.5 TB/s are 10.7x the 3.33 TB/s pins; without it, nCCDAB 4, 16x)
//             linear xpu 34.5 (incl. 6.87 launch), pim 162.6; MHA xpu 652, pim 61.5;
//             GQA xpu 169, pim 123; moe xpu 854.1, pim 1270.5 (unconstrained it would be
//             847.0, and PIM would take the MoE by the xPU's launch overhead).
//   attacc-bg    MHA pim 246 beats xpu 652; GQA pim 492 loses to xpu 169; moe pim 5082.
//   attacc-buffer  MHA pim 656.4 vs xpu 652.5: buffer PIM reads at the pins' own bandwidth.
//   duplex    MHA bank pim 41 < logic_pim 161; GQA logic_pim 41 < pim 82; moe logic_pim 424.
//   hbm-pim   MHA pim 445 < xpu 1755; GQA xpu 446 < pim 889.
// The weight handle %w follows its user; silu runs only on the xPU.

builtin.module {
  func.func @decode(%x: tensor<Bx1x4096xf16>, %q: tensor<Bx32x1x128xf16>, %k: tensor<Bx32xSx128xf16>, %v: tensor<Bx32xSx128xf16>, %gq: tensor<Bx64x1x128xf16>, %gk: tensor<Bx8xSx128xf16>, %gv: tensor<Bx8xSx128xf16>) -> (tensor<Bx1x11008xf16>, tensor<Bx32x1x128xf16>, tensor<Bx64x1x128xf16>, tensor<Bx1x4096xf16>) {
    // NEUPIMS: %w = "llm.weight"() {{.*}}device = #pimc.device<"npu">
    // NEUPIMS: %h = "llm.linear"{{.*}}device = #pimc.device<"npu">
    // NEUPIMS: %a = "llm.silu"{{.*}}device = #pimc.device<"npu">
    // NEUPIMS: %o = "llm.attention"{{.*}}device = #pimc.device<"pim">
    // NEUPIMS: %g = "llm.attention"{{.*}}device = #pimc.device<"npu">
    // NEUPIMS: %y = "llm.moe"{{.*}}device = #pimc.device<"npu">
    // NPU-NOT: device = #pimc.device<"{{[^n]}}
    // NPU: %y = "llm.moe"{{.*}}device = #pimc.device<"npu">
    // BANK: %h = "llm.linear"{{.*}}device = #pimc.device<"xpu">
    // BANK: %a = "llm.silu"{{.*}}device = #pimc.device<"xpu">
    // BANK: %o = "llm.attention"{{.*}}device = #pimc.device<"pim">
    // BANK: %g = "llm.attention"{{.*}}device = #pimc.device<"pim">
    // BANK: %y = "llm.moe"{{.*}}device = #pimc.device<"xpu">
    // MHAPIM: %h = "llm.linear"{{.*}}device = #pimc.device<"xpu">
    // MHAPIM: %o = "llm.attention"{{.*}}device = #pimc.device<"pim">
    // MHAPIM: %g = "llm.attention"{{.*}}device = #pimc.device<"xpu">
    // MHAPIM: %y = "llm.moe"{{.*}}device = #pimc.device<"xpu">
    // XPU-NOT: device = #pimc.device<"{{[^x]}}
    // XPU: %y = "llm.moe"{{.*}}device = #pimc.device<"xpu">
    // DUPLEX: %h = "llm.linear"{{.*}}device = #pimc.device<"xpu">
    // DUPLEX: %o = "llm.attention"{{.*}}device = #pimc.device<"pim">
    // DUPLEX: %g = "llm.attention"{{.*}}device = #pimc.device<"logic_pim">
    // DUPLEX: %eg = "llm.weight"() {{.*}}device = #pimc.device<"logic_pim">
    // DUPLEX: %y = "llm.moe"{{.*}}device = #pimc.device<"logic_pim">
    // RULE-NEUPIMS: %h = "llm.linear"{{.*}}device = #pimc.device<"npu">
    // RULE-NEUPIMS: %o = "llm.attention"{{.*}}device = #pimc.device<"pim">
    // RULE-NEUPIMS: %g = "llm.attention"{{.*}}device = #pimc.device<"pim">
    // RULE-NEUPIMS: %y = "llm.moe"{{.*}}device = #pimc.device<"npu">
    // Duplex's rule has no bank PIM: MHA goes to Logic-PIM (161 us), not the faster bank PIM.
    // RULE-DUPLEX: %h = "llm.linear"{{.*}}device = #pimc.device<"xpu">
    // RULE-DUPLEX: %o = "llm.attention"{{.*}}device = #pimc.device<"logic_pim">
    // RULE-DUPLEX: %g = "llm.attention"{{.*}}device = #pimc.device<"logic_pim">
    // RULE-DUPLEX: %y = "llm.moe"{{.*}}device = #pimc.device<"logic_pim">
    %w = "llm.weight"() {handle = #pimc.weight<"up">} : () -> tensor<11008x4096xf16>
    %h = "llm.linear"(%x, %w) : (tensor<Bx1x4096xf16>, tensor<11008x4096xf16>) -> tensor<Bx1x11008xf16>
    %a = "llm.silu"(%h) : (tensor<Bx1x11008xf16>) -> tensor<Bx1x11008xf16>
    %o = "llm.attention"(%q, %k, %v) : (tensor<Bx32x1x128xf16>, tensor<Bx32xSx128xf16>, tensor<Bx32xSx128xf16>) -> tensor<Bx32x1x128xf16>
    %g = "llm.attention"(%gq, %gk, %gv) : (tensor<Bx64x1x128xf16>, tensor<Bx8xSx128xf16>, tensor<Bx8xSx128xf16>) -> tensor<Bx64x1x128xf16>
    %r = "llm.weight"() {handle = #pimc.weight<"router">} : () -> tensor<8x4096xf16>
    %eg = "llm.weight"() {handle = #pimc.weight<"gate">} : () -> tensor<8x14336x4096xf16>
    %eu = "llm.weight"() {handle = #pimc.weight<"up">} : () -> tensor<8x14336x4096xf16>
    %ed = "llm.weight"() {handle = #pimc.weight<"down">} : () -> tensor<8x4096x14336xf16>
    %y = "llm.moe"(%x, %r, %eg, %eu, %ed) {top_k = 2} : (tensor<Bx1x4096xf16>, tensor<8x4096xf16>, tensor<8x14336x4096xf16>, tensor<8x14336x4096xf16>, tensor<8x4096x14336xf16>) -> tensor<Bx1x4096xf16>
    func.return %a, %o, %g, %y : tensor<Bx1x11008xf16>, tensor<Bx32x1x128xf16>, tensor<Bx64x1x128xf16>, tensor<Bx1x4096xf16>
  }
  // At B = 1 the decode linear is a GEMV (Op/B 1): pim 11.0 us beats npu 88.1 us. The same
  // linear in prefill runs T = context = 2048 tokens per request: a GEMM, npu.
  // SWEEP: remark: place-devices: sweep over B = 1, 2, 4, 8, 16, 32, 64, 128, 256, 512 at S = 2048 on 'neupims' (pick-min): 2 op type(s) change device
  // SWEEP: remark: place-devices: @decode: 1 x llm.linear(tensor<Bx1x4096xf16>, tensor<11008x4096xf16>): pim for B in [1, 8], npu for B in [16, 512]
  // SWEEP: remark: place-devices: @decode: 1 x llm.moe({{.*}}): pim for B in [1, 16], npu for B in [32, 512]
  // SWEEP: builtin.module attributes {pimc.target = "neupims"}
  // SWEEP: %h = "llm.linear"{{.*}}device = #pimc.device<"pim">
  // SWEEP: func.func @prefill
  // SWEEP: %h = "llm.linear"{{.*}}device = #pimc.device<"npu">
  func.func @prefill(%x: tensor<BxTx4096xf16>) -> tensor<BxTx11008xf16> {
    %w = "llm.weight"() {handle = #pimc.weight<"up">} : () -> tensor<11008x4096xf16>
    %h = "llm.linear"(%x, %w) : (tensor<BxTx4096xf16>, tensor<11008x4096xf16>) -> tensor<BxTx11008xf16>
    func.return %h : tensor<BxTx11008xf16>
  }
}
