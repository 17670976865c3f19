// Round trip of llm.attention: decode with GQA, causal prefill with a scale and Dv != D, and an
// explicit mask with the kv policy attribute passes set.
// RUN: pimc opt %s | pimc opt - | filecheck --match-full-lines %s

// CHECK: builtin.module {
builtin.module {
  // CHECK-LABEL: func.func @decode_gqa(%q: tensor<Bx32x1x128xf16>, %k: tensor<Bx8x(S+1)x128xf16>, %v: tensor<Bx8x(S+1)x128xf16>) -> tensor<Bx32x1x128xf16> {
  // CHECK-NEXT: %o = "llm.attention"(%q, %k, %v) {device = #pimc.device<"logic_pim">} : (tensor<Bx32x1x128xf16>, tensor<Bx8x(S+1)x128xf16>, tensor<Bx8x(S+1)x128xf16>) -> tensor<Bx32x1x128xf16>
  // CHECK-NEXT: func.return %o : tensor<Bx32x1x128xf16>
  // CHECK-NEXT: }
  func.func @decode_gqa(%q: tensor<Bx32x1x128xf16>, %k: tensor<Bx8x(S+1)x128xf16>, %v: tensor<Bx8x(S+1)x128xf16>) -> tensor<Bx32x1x128xf16> {
    %o = "llm.attention"(%q, %k, %v) {device = #pimc.device<"logic_pim">} : (tensor<Bx32x1x128xf16>, tensor<Bx8x(S+1)x128xf16>, tensor<Bx8x(S+1)x128xf16>) -> tensor<Bx32x1x128xf16>
    func.return %o : tensor<Bx32x1x128xf16>
  }
  // CHECK-LABEL: func.func @prefill_causal(%q: tensor<Bx32xSx128xbf16>, %k: tensor<Bx32xSx128xbf16>, %v: tensor<Bx32xSx64xbf16>) -> tensor<Bx32xSx64xbf16> {
  // CHECK-NEXT: %o = "llm.attention"(%q, %k, %v) {causal = true, scale = 0.08838834764831845} : (tensor<Bx32xSx128xbf16>, tensor<Bx32xSx128xbf16>, tensor<Bx32xSx64xbf16>) -> tensor<Bx32xSx64xbf16>
  // CHECK-NEXT: func.return %o : tensor<Bx32xSx64xbf16>
  // CHECK-NEXT: }
  func.func @prefill_causal(%q: tensor<Bx32xSx128xbf16>, %k: tensor<Bx32xSx128xbf16>, %v: tensor<Bx32xSx64xbf16>) -> tensor<Bx32xSx64xbf16> {
    %o = "llm.attention"(%q, %k, %v) {causal = true, scale = 0.08838834764831845} : (tensor<Bx32xSx128xbf16>, tensor<Bx32xSx128xbf16>, tensor<Bx32xSx64xbf16>) -> tensor<Bx32xSx64xbf16>
    func.return %o : tensor<Bx32xSx64xbf16>
  }
  // CHECK-LABEL: func.func @masked(%q: tensor<Bx4xTx64xf32>, %k: tensor<Bx1x(S+T)x64xf32>, %v: tensor<Bx1x(S+T)x64xf32>, %mask: tensor<Bx1xTx(S+T)xf32>) -> tensor<Bx4xTx64xf32> {
  // CHECK-NEXT: %o = "llm.attention"(%q, %k, %v, %mask) {causal = false, kv = {method = "l2norm", ratio = 0.5}} : (tensor<Bx4xTx64xf32>, tensor<Bx1x(S+T)x64xf32>, tensor<Bx1x(S+T)x64xf32>, tensor<Bx1xTx(S+T)xf32>) -> tensor<Bx4xTx64xf32>
  // CHECK-NEXT: func.return %o : tensor<Bx4xTx64xf32>
  // CHECK-NEXT: }
  func.func @masked(%q: tensor<Bx4xTx64xf32>, %k: tensor<Bx1x(S+T)x64xf32>, %v: tensor<Bx1x(S+T)x64xf32>, %mask: tensor<Bx1xTx(S+T)xf32>) -> tensor<Bx4xTx64xf32> {
    %o = "llm.attention"(%q, %k, %v, %mask) {causal = false, kv = {method = "l2norm", ratio = 5.0e-1}} : (tensor<Bx4xTx64xf32>, tensor<Bx1x(S+T)x64xf32>, tensor<Bx1x(S+T)x64xf32>, tensor<Bx1xTx(S+T)xf32>) -> tensor<Bx4xTx64xf32>
    func.return %o : tensor<Bx4xTx64xf32>
  }
}
// CHECK-NEXT: }
