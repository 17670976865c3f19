// lower-to-pim after placement at batch 1 on neupims: the GEMV and the MHA attention are on PIM
// and become pim ops with their layouts; the embedding-free elementwise op stays on the NPU.
// neupims (targets/presets/neupims.toml): 32 channels of 16 banks, a PIM unit per bank (512
// units), 2048-byte rows, fp16. The 4096x4096 weight: ceil(4096 / 512) = 8 output rows per unit,
// 8 x 4096 x 2 B = 64 KiB = 32 DRAM rows.
// RUN: pimc opt %s -p 'place-devices{target=neupims,batch=1},lower-to-pim' | filecheck %s
// RUN: pimc opt %s -p 'place-devices{target=gpu-h100,batch=1},lower-to-pim{target=neupims}' | filecheck %s --check-prefix=NOPIM
// RUN: not pimc opt %s -p 'lower-to-pim{target=gpu-h100}' 2>&1 | filecheck %s --check-prefix=ERR

func.func @decode(%x: tensor<Bx1x4096xf16>, %w: tensor<4096x4096xf16>,
                  %q: tensor<Bx32x1x128xf16>, %k: tensor<Bx32xSx128xf16>,
                  %v: tensor<Bx32xSx128xf16>) -> (tensor<Bx1x4096xf16>, tensor<Bx32x1x128xf16>) {
  // CHECK: "pim.gemv"(%x, %w) {cost = {{.*}}, device = #pimc.device<"pim">, dram_rows_per_unit = 32, row_bytes = 2048, rows_per_unit = 8, units = 512}
  %y = "llm.linear"(%x, %w) : (tensor<Bx1x4096xf16>, tensor<4096x4096xf16>) -> tensor<Bx1x4096xf16>
  // CHECK: "llm.silu"(%{{.*}}) {cost = {{.*}}, device = #pimc.device<"npu">}
  %s = "llm.silu"(%y) : (tensor<Bx1x4096xf16>) -> tensor<Bx1x4096xf16>
  // CHECK: "pim.attention"(%q, %k, %v) {banks_per_channel = 16, channels = 32, cost = {{.*}}, device = #pimc.device<"pim">, scale = 0.08838834764831845}
  %o = "llm.attention"(%q, %k, %v) {scale = 0.08838834764831845} : (tensor<Bx32x1x128xf16>, tensor<Bx32xSx128xf16>, tensor<Bx32xSx128xf16>) -> tensor<Bx32x1x128xf16>
  func.return %s, %o : tensor<Bx1x4096xf16>, tensor<Bx32x1x128xf16>
}
// NOPIM-NOT: pim.
// ERR: pimc: error: pass 'lower-to-pim': target 'gpu-h100' has no in-bank PIM with a bank organisation to lay data out over
