// Round trip of llm.moe: a Mixtral-shaped layer from weight handles, and one with symbolic
// expert count E, hidden D and FFN width F.
// RUN: pimc opt %s | pimc opt - | filecheck --match-full-lines %s

// CHECK: builtin.module {
builtin.module {
  // CHECK-LABEL: func.func @mixtral(%x: tensor<(B*S)x4096xbf16>) -> tensor<(B*S)x4096xbf16> {
  // CHECK-NEXT: %router = "llm.weight"() {handle = #pimc.weight<"model.layers.0.block_sparse_moe.gate.weight">} : () -> tensor<8x4096xbf16>
  // CHECK-NEXT: %gate = "llm.weight"() {handle = #pimc.weight<"model.layers.0.block_sparse_moe.w1">} : () -> tensor<8x14336x4096xbf16>
  // CHECK-NEXT: %up = "llm.weight"() {handle = #pimc.weight<"model.layers.0.block_sparse_moe.w3">} : () -> tensor<8x14336x4096xbf16>
  // CHECK-NEXT: %down = "llm.weight"() {handle = #pimc.weight<"model.layers.0.block_sparse_moe.w2">} : () -> tensor<8x4096x14336xbf16>
  // CHECK-NEXT: %y = "llm.moe"(%x, %router, %gate, %up, %down) {top_k = 2} : (tensor<(B*S)x4096xbf16>, tensor<8x4096xbf16>, tensor<8x14336x4096xbf16>, tensor<8x14336x4096xbf16>, tensor<8x4096x14336xbf16>) -> tensor<(B*S)x4096xbf16>
  // CHECK-NEXT: func.return %y : tensor<(B*S)x4096xbf16>
  // CHECK-NEXT: }
  func.func @mixtral(%x: tensor<(B*S)x4096xbf16>) -> tensor<(B*S)x4096xbf16> {
    %router = "llm.weight"() {handle = #pimc.weight<"model.layers.0.block_sparse_moe.gate.weight">} : () -> tensor<8x4096xbf16>
    %gate = "llm.weight"() {handle = #pimc.weight<"model.layers.0.block_sparse_moe.w1">} : () -> tensor<8x14336x4096xbf16>
    %up = "llm.weight"() {handle = #pimc.weight<"model.layers.0.block_sparse_moe.w3">} : () -> tensor<8x14336x4096xbf16>
    %down = "llm.weight"() {handle = #pimc.weight<"model.layers.0.block_sparse_moe.w2">} : () -> tensor<8x4096x14336xbf16>
    %y = "llm.moe"(%x, %router, %gate, %up, %down) {top_k = 2} : (tensor<(B*S)x4096xbf16>, tensor<8x4096xbf16>, tensor<8x14336x4096xbf16>, tensor<8x14336x4096xbf16>, tensor<8x4096x14336xbf16>) -> tensor<(B*S)x4096xbf16>
    func.return %y : tensor<(B*S)x4096xbf16>
  }
  // CHECK-LABEL: func.func @symbolic_experts(%x: tensor<BxSxDxf32>, %r: tensor<ExDxf32>, %g: tensor<ExFxDxf32>, %u: tensor<ExFxDxf32>, %d: tensor<ExDxFxf32>) -> tensor<BxSxDxf32> {
  // CHECK-NEXT: %y = "llm.moe"(%x, %r, %g, %u, %d) {cost = {flops = #pimc.sym<"6*B*D*F*S">}, normalize = false, top_k = 4} : (tensor<BxSxDxf32>, tensor<ExDxf32>, tensor<ExFxDxf32>, tensor<ExFxDxf32>, tensor<ExDxFxf32>) -> tensor<BxSxDxf32>
  // CHECK-NEXT: func.return %y : tensor<BxSxDxf32>
  // CHECK-NEXT: }
  func.func @symbolic_experts(%x: tensor<BxSxDxf32>, %r: tensor<ExDxf32>, %g: tensor<ExFxDxf32>, %u: tensor<ExFxDxf32>, %d: tensor<ExDxFxf32>) -> tensor<BxSxDxf32> {
    %y = "llm.moe"(%x, %r, %g, %u, %d) {normalize = false, top_k = 4, cost = {flops = #pimc.sym<"6*B*S*D*F">}} : (tensor<BxSxDxf32>, tensor<ExDxf32>, tensor<ExFxDxf32>, tensor<ExFxDxf32>, tensor<ExDxFxf32>) -> tensor<BxSxDxf32>
    func.return %y : tensor<BxSxDxf32>
  }
}
// CHECK-NEXT: }
