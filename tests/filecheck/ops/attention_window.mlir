// Round trip of llm.attention's sliding window and soft cap, with a key-padding mask (boolean,
// [B, 1, 1, S]: HF's attention_mask) beside the causal flag.
// RUN: pimc opt %s | pimc opt - | filecheck --match-full-lines %s

// CHECK: builtin.module {
builtin.module {
  // CHECK-LABEL: func.func @sliding(%q: tensor<Bx4xTx16xf32>, %k: tensor<Bx2xTx16xf32>, %v: tensor<Bx2xTx16xf32>, %pad: tensor<Bx1x1xTxi1>) -> tensor<Bx4xTx16xf32> {
  // CHECK-NEXT: %o = "llm.attention"(%q, %k, %v, %pad) {causal = true, window = 4} : (tensor<Bx4xTx16xf32>, tensor<Bx2xTx16xf32>, tensor<Bx2xTx16xf32>, tensor<Bx1x1xTxi1>) -> tensor<Bx4xTx16xf32>
  // CHECK-NEXT: func.return %o : tensor<Bx4xTx16xf32>
  // CHECK-NEXT: }
  func.func @sliding(%q: tensor<Bx4xTx16xf32>, %k: tensor<Bx2xTx16xf32>, %v: tensor<Bx2xTx16xf32>, %pad: tensor<Bx1x1xTxi1>) -> tensor<Bx4xTx16xf32> {
    %o = "llm.attention"(%q, %k, %v, %pad) {causal = true, window = 4} : (tensor<Bx4xTx16xf32>, tensor<Bx2xTx16xf32>, tensor<Bx2xTx16xf32>, tensor<Bx1x1xTxi1>) -> tensor<Bx4xTx16xf32>
    func.return %o : tensor<Bx4xTx16xf32>
  }
  // CHECK-LABEL: func.func @capped(%q: tensor<Bx4x1x16xf32>, %k: tensor<Bx4x(S+1)x16xf32>, %v: tensor<Bx4x(S+1)x16xf32>) -> tensor<Bx4x1x16xf32> {
  // CHECK-NEXT: %o = "llm.attention"(%q, %k, %v) {scale = 0.0625, softcap = 50.0, window = 4096} : (tensor<Bx4x1x16xf32>, tensor<Bx4x(S+1)x16xf32>, tensor<Bx4x(S+1)x16xf32>) -> tensor<Bx4x1x16xf32>
  // CHECK-NEXT: func.return %o : tensor<Bx4x1x16xf32>
  // CHECK-NEXT: }
  func.func @capped(%q: tensor<Bx4x1x16xf32>, %k: tensor<Bx4x(S+1)x16xf32>, %v: tensor<Bx4x(S+1)x16xf32>) -> tensor<Bx4x1x16xf32> {
    %o = "llm.attention"(%q, %k, %v) {scale = 0.0625, softcap = 50.0, window = 4096} : (tensor<Bx4x1x16xf32>, tensor<Bx4x(S+1)x16xf32>, tensor<Bx4x(S+1)x16xf32>) -> tensor<Bx4x1x16xf32>
    func.return %o : tensor<Bx4x1x16xf32>
  }
}
// CHECK-NEXT: }
