// lower-to-npu after placement at batch 64 on neupims: the GEMMs with static K and N are on the
// NPU and become npu ops with their weight-stationary tile schedule; the score matmul (N = S,
// unknown until run time; pinned to the NPU here) and the elementwise op stay llm ops.
// neupims (targets/presets/neupims.toml): 8 arrays of 128x128, 2 MiB SRAM, fp16.
// - 11008x4096 weight: K tiles ceil(4096/128) = 32, N tiles ceil(11008/128) = 86, 8 arrays;
//   tile_m: (2097152 - 8 x 2 x 128 x 128 x 2) / (2 x 128 x 2 + 8 x 128 x 2) = 614 -> 512 rows.
// - 128x256 matmul operand: 1 K tile, 2 N tiles, so 2 arrays;
//   tile_m: (2097152 - 2 x 2 x 32768) / (512 + 2 x 256) = 1920 rows (a multiple of 128).
// RUN: pimc opt %s -p 'place-devices{target=neupims,batch=64,context=512,pin="matmul:npu"},lower-to-npu' | filecheck %s
// RUN: pimc opt %s -p 'place-devices{target=gpu-h100,batch=64},lower-to-npu{target=neupims}' | filecheck %s --check-prefix=NONPU
// RUN: not pimc opt %s -p 'lower-to-npu{target=gpu-h100}' 2>&1 | filecheck %s --check-prefix=ERR

func.func @decode(%x: tensor<Bx1x4096xf16>, %w: tensor<11008x4096xf16>,
                  %a: tensor<Bx64x128xf16>, %b: tensor<128x256xf16>,
                  %q: tensor<Bx32x1x128xf16>, %k: tensor<Bx32xSx128xf16>)
    -> (tensor<Bx1x11008xf16>, tensor<Bx64x256xf16>, tensor<Bx32x1xSxf16>) {
  // CHECK: "npu.gemm"(%x, %w) {arrays = 8, cost = {{.*}}, device = #pimc.device<"npu">, k_tiles = 32, n_tiles = 86, tile_k = 128, tile_m = 512, tile_n = 128}
  %y = "llm.linear"(%x, %w) : (tensor<Bx1x4096xf16>, tensor<11008x4096xf16>) -> tensor<Bx1x11008xf16>
  // CHECK: "llm.silu"(%{{.*}}) {cost = {{.*}}, device = #pimc.device<"npu">}
  %s = "llm.silu"(%y) : (tensor<Bx1x11008xf16>) -> tensor<Bx1x11008xf16>
  // CHECK: "npu.matmul"(%a, %b) {arrays = 2, cost = {{.*}}, device = #pimc.device<"npu">, k_tiles = 1, n_tiles = 2, tile_k = 128, tile_m = 1920, tile_n = 128}
  %m = "llm.matmul"(%a, %b) : (tensor<Bx64x128xf16>, tensor<128x256xf16>) -> tensor<Bx64x256xf16>
  // CHECK: "llm.matmul"(%q, %k) {cost = {{.*}}, device = #pimc.device<"npu">, transpose_b = true}
  %t = "llm.matmul"(%q, %k) {transpose_b = true} : (tensor<Bx32x1x128xf16>, tensor<Bx32xSx128xf16>) -> tensor<Bx32x1xSxf16>
  func.return %s, %m, %t : tensor<Bx1x11008xf16>, tensor<Bx64x256xf16>, tensor<Bx32x1xSxf16>
}
// NONPU-NOT: npu.
// ERR: pimc: error: pass 'lower-to-npu': target 'gpu-h100' has no NPU; expected an [xpu] with kind = "npu"
