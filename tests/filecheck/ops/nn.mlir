// Round trip of the NN llm ops: matmul (GEMV and GEMM, both transposes, batch broadcast), linear
// with and without bias, rmsnorm, layernorm, softmax and rope in both styles.
// RUN: pimc opt %s | pimc opt - | filecheck --match-full-lines %s

// CHECK: builtin.module {
builtin.module {
  // CHECK-LABEL: func.func @matmuls(%x: tensor<Bx1x4096xf16>, %w: tensor<4096x11008xf16>, %wt: tensor<11008x4096xf16>, %q: tensor<Bx32x(S+1)x128xf16>, %k: tensor<Bx32x(S+1)x128xf16>) -> (tensor<Bx1x11008xf16>, tensor<Bx1x11008xf16>, tensor<Bx32x(S+1)x(S+1)xf16>, tensor<Bx32x128x128xf16>) {
  // CHECK-NEXT: %gemv = "llm.matmul"(%x, %w) {device = #pimc.device<"pim">} : (tensor<Bx1x4096xf16>, tensor<4096x11008xf16>) -> tensor<Bx1x11008xf16>
  // CHECK-NEXT: %tb = "llm.matmul"(%x, %wt) {transpose_b = true} : (tensor<Bx1x4096xf16>, tensor<11008x4096xf16>) -> tensor<Bx1x11008xf16>
  // CHECK-NEXT: %scores = "llm.matmul"(%q, %k) {transpose_a = false, transpose_b = true} : (tensor<Bx32x(S+1)x128xf16>, tensor<Bx32x(S+1)x128xf16>) -> tensor<Bx32x(S+1)x(S+1)xf16>
  // CHECK-NEXT: %ta = "llm.matmul"(%q, %k) {transpose_a = true} : (tensor<Bx32x(S+1)x128xf16>, tensor<Bx32x(S+1)x128xf16>) -> tensor<Bx32x128x128xf16>
  // CHECK-NEXT: func.return %gemv, %tb, %scores, %ta : tensor<Bx1x11008xf16>, tensor<Bx1x11008xf16>, tensor<Bx32x(S+1)x(S+1)xf16>, tensor<Bx32x128x128xf16>
  // CHECK-NEXT: }
  func.func @matmuls(%x: tensor<Bx1x4096xf16>, %w: tensor<4096x11008xf16>, %wt: tensor<11008x4096xf16>, %q: tensor<Bx32x(S+1)x128xf16>, %k: tensor<Bx32x(S+1)x128xf16>) -> (tensor<Bx1x11008xf16>, tensor<Bx1x11008xf16>, tensor<Bx32x(S+1)x(S+1)xf16>, tensor<Bx32x128x128xf16>) {
    %gemv = "llm.matmul"(%x, %w) {device = #pimc.device<"pim">} : (tensor<Bx1x4096xf16>, tensor<4096x11008xf16>) -> tensor<Bx1x11008xf16>
    %tb = "llm.matmul"(%x, %wt) {transpose_b = true} : (tensor<Bx1x4096xf16>, tensor<11008x4096xf16>) -> tensor<Bx1x11008xf16>
    %scores = "llm.matmul"(%q, %k) {transpose_a = false, transpose_b = true} : (tensor<Bx32x(S+1)x128xf16>, tensor<Bx32x(S+1)x128xf16>) -> tensor<Bx32x(S+1)x(S+1)xf16>
    %ta = "llm.matmul"(%q, %k) {transpose_a = true} : (tensor<Bx32x(S+1)x128xf16>, tensor<Bx32x(S+1)x128xf16>) -> tensor<Bx32x128x128xf16>
    func.return %gemv, %tb, %scores, %ta : tensor<Bx1x11008xf16>, tensor<Bx1x11008xf16>, tensor<Bx32x(S+1)x(S+1)xf16>, tensor<Bx32x128x128xf16>
  }
  // CHECK-LABEL: func.func @linears(%x: tensor<(B*S)x4096xbf16>, %w: tensor<14336x4096xbf16>, %bias: tensor<14336xbf16>) -> (tensor<(B*S)x14336xbf16>, tensor<(B*S)x14336xbf16>) {
  // CHECK-NEXT: %0 = "llm.linear"(%x, %w) : (tensor<(B*S)x4096xbf16>, tensor<14336x4096xbf16>) -> tensor<(B*S)x14336xbf16>
  // CHECK-NEXT: %1 = "llm.linear"(%x, %w, %bias) {device = #pimc.device<"npu">, subbatch = 1} : (tensor<(B*S)x4096xbf16>, tensor<14336x4096xbf16>, tensor<14336xbf16>) -> tensor<(B*S)x14336xbf16>
  // CHECK-NEXT: func.return %0, %1 : tensor<(B*S)x14336xbf16>, tensor<(B*S)x14336xbf16>
  // CHECK-NEXT: }
  func.func @linears(%x: tensor<(B*S)x4096xbf16>, %w: tensor<14336x4096xbf16>, %bias: tensor<14336xbf16>) -> (tensor<(B*S)x14336xbf16>, tensor<(B*S)x14336xbf16>) {
    %0 = "llm.linear"(%x, %w) : (tensor<(B*S)x4096xbf16>, tensor<14336x4096xbf16>) -> tensor<(B*S)x14336xbf16>
    %1 = "llm.linear"(%x, %w, %bias) {device = #pimc.device<"npu">, subbatch = 1} : (tensor<(B*S)x4096xbf16>, tensor<14336x4096xbf16>, tensor<14336xbf16>) -> tensor<(B*S)x14336xbf16>
    func.return %0, %1 : tensor<(B*S)x14336xbf16>, tensor<(B*S)x14336xbf16>
  }
  // CHECK-LABEL: func.func @norms(%x: tensor<BxSx4096xf32>, %w: tensor<4096xf32>, %b: tensor<4096xf32>) -> (tensor<BxSx4096xf32>, tensor<BxSx4096xf32>, tensor<BxSx4096xf32>, tensor<BxSx4096xf32>) {
  // CHECK-NEXT: %rms = "llm.rmsnorm"(%x, %w) : (tensor<BxSx4096xf32>, tensor<4096xf32>) -> tensor<BxSx4096xf32>
  // CHECK-NEXT: %rms5 = "llm.rmsnorm"(%x, %w) {eps = 1e-05} : (tensor<BxSx4096xf32>, tensor<4096xf32>) -> tensor<BxSx4096xf32>
  // CHECK-NEXT: %ln = "llm.layernorm"(%x, %w, %b) {eps = 1e-12} : (tensor<BxSx4096xf32>, tensor<4096xf32>, tensor<4096xf32>) -> tensor<BxSx4096xf32>
  // CHECK-NEXT: %ln_nobias = "llm.layernorm"(%x, %w) : (tensor<BxSx4096xf32>, tensor<4096xf32>) -> tensor<BxSx4096xf32>
  // CHECK-NEXT: func.return %rms, %rms5, %ln, %ln_nobias : tensor<BxSx4096xf32>, tensor<BxSx4096xf32>, tensor<BxSx4096xf32>, tensor<BxSx4096xf32>
  // CHECK-NEXT: }
  func.func @norms(%x: tensor<BxSx4096xf32>, %w: tensor<4096xf32>, %b: tensor<4096xf32>) -> (tensor<BxSx4096xf32>, tensor<BxSx4096xf32>, tensor<BxSx4096xf32>, tensor<BxSx4096xf32>) {
    %rms = "llm.rmsnorm"(%x, %w) : (tensor<BxSx4096xf32>, tensor<4096xf32>) -> tensor<BxSx4096xf32>
    %rms5 = "llm.rmsnorm"(%x, %w) {eps = 1e-05} : (tensor<BxSx4096xf32>, tensor<4096xf32>) -> tensor<BxSx4096xf32>
    %ln = "llm.layernorm"(%x, %w, %b) {eps = 1.0e-12} : (tensor<BxSx4096xf32>, tensor<4096xf32>, tensor<4096xf32>) -> tensor<BxSx4096xf32>
    %ln_nobias = "llm.layernorm"(%x, %w) : (tensor<BxSx4096xf32>, tensor<4096xf32>) -> tensor<BxSx4096xf32>
    func.return %rms, %rms5, %ln, %ln_nobias : tensor<BxSx4096xf32>, tensor<BxSx4096xf32>, tensor<BxSx4096xf32>, tensor<BxSx4096xf32>
  }
  // CHECK-LABEL: func.func @softmax(%s: tensor<Bx32x1x(S+1)xf16>) -> (tensor<Bx32x1x(S+1)xf16>, tensor<Bx32x1x(S+1)xf16>) {
  // CHECK-NEXT: %0 = "llm.softmax"(%s) : (tensor<Bx32x1x(S+1)xf16>) -> tensor<Bx32x1x(S+1)xf16>
  // CHECK-NEXT: %1 = "llm.softmax"(%s) {axis = 1} : (tensor<Bx32x1x(S+1)xf16>) -> tensor<Bx32x1x(S+1)xf16>
  // CHECK-NEXT: func.return %0, %1 : tensor<Bx32x1x(S+1)xf16>, tensor<Bx32x1x(S+1)xf16>
  // CHECK-NEXT: }
  func.func @softmax(%s: tensor<Bx32x1x(S+1)xf16>) -> (tensor<Bx32x1x(S+1)xf16>, tensor<Bx32x1x(S+1)xf16>) {
    %0 = "llm.softmax"(%s) : (tensor<Bx32x1x(S+1)xf16>) -> tensor<Bx32x1x(S+1)xf16>
    %1 = "llm.softmax"(%s) {axis = 1} : (tensor<Bx32x1x(S+1)xf16>) -> tensor<Bx32x1x(S+1)xf16>
    func.return %0, %1 : tensor<Bx32x1x(S+1)xf16>, tensor<Bx32x1x(S+1)xf16>
  }
  // CHECK-LABEL: func.func @rope(%x: tensor<Bx32xSx128xf16>, %cos: tensor<Sx128xf16>, %sin: tensor<Sx128xf16>, %c4: tensor<Bx1xSx128xf32>) -> (tensor<Bx32xSx128xf16>, tensor<Bx32xSx128xf16>) {
  // CHECK-NEXT: %0 = "llm.rope"(%x, %cos, %sin) : (tensor<Bx32xSx128xf16>, tensor<Sx128xf16>, tensor<Sx128xf16>) -> tensor<Bx32xSx128xf16>
  // CHECK-NEXT: %1 = "llm.rope"(%0, %c4, %c4) {style = "interleaved"} : (tensor<Bx32xSx128xf16>, tensor<Bx1xSx128xf32>, tensor<Bx1xSx128xf32>) -> tensor<Bx32xSx128xf16>
  // CHECK-NEXT: func.return %0, %1 : tensor<Bx32xSx128xf16>, tensor<Bx32xSx128xf16>
  // CHECK-NEXT: }
  func.func @rope(%x: tensor<Bx32xSx128xf16>, %cos: tensor<Sx128xf16>, %sin: tensor<Sx128xf16>, %c4: tensor<Bx1xSx128xf32>) -> (tensor<Bx32xSx128xf16>, tensor<Bx32xSx128xf16>) {
    %0 = "llm.rope"(%x, %cos, %sin) : (tensor<Bx32xSx128xf16>, tensor<Sx128xf16>, tensor<Sx128xf16>) -> tensor<Bx32xSx128xf16>
    %1 = "llm.rope"(%0, %c4, %c4) {style = "interleaved"} : (tensor<Bx32xSx128xf16>, tensor<Bx1xSx128xf32>, tensor<Bx1xSx128xf32>) -> tensor<Bx32xSx128xf16>
    func.return %0, %1 : tensor<Bx32xSx128xf16>, tensor<Bx32xSx128xf16>
  }
}
// CHECK-NEXT: }
