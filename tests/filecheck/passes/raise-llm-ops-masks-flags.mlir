// raise-llm-ops: a mask operand recognised by what it computes is read together with the
// attention's own causal flag (pimc/passes/raise_masks.py). onnxruntime's GroupQueryAttention
// imports as a causal attention with a key mask from seqlens_k; in a step whose
// attention_mask is all ones (genai's @prefill) that mask allows every key, and the attention
// stays causal rather than taking the mask's own spelling (none).
// RUN: pimc opt %s -p raise-llm-ops | filecheck --match-full-lines %s

builtin.module {
  // CHECK-LABEL: func.func @causal_all_keys(%q: tensor<Bx4xTx8xf32>, %k: tensor<Bx2xTx8xf32>, %v: tensor<Bx2xTx8xf32>) -> tensor<Bx4xTx8xf32> {
  // CHECK-NEXT: %0 = "llm.attention"(%q, %k, %v) {causal = true, scale = 0.35355339} : (tensor<Bx4xTx8xf32>, tensor<Bx2xTx8xf32>, tensor<Bx2xTx8xf32>) -> tensor<Bx4xTx8xf32>
  // CHECK-NEXT: func.return %0 : tensor<Bx4xTx8xf32>
  // CHECK-NEXT: }
  func.func @causal_all_keys(%q: tensor<Bx4xTx8xf32>, %k: tensor<Bx2xTx8xf32>, %v: tensor<Bx2xTx8xf32>) -> tensor<Bx4xTx8xf32> {
    %all = "llm.constant"() {value = 1.0} : () -> tensor<Bx1x1xTxi1>
    %o = "llm.attention"(%q, %k, %v, %all) {causal = true, scale = 0.35355339} : (tensor<Bx4xTx8xf32>, tensor<Bx2xTx8xf32>, tensor<Bx2xTx8xf32>, tensor<Bx1x1xTxi1>) -> tensor<Bx4xTx8xf32>
    func.return %o : tensor<Bx4xTx8xf32>
  }
  // A window on the attention itself is kept the same way.
  // CHECK-LABEL: func.func @window_all_keys(%q: tensor<Bx4xTx8xf32>, %k: tensor<Bx2xTx8xf32>, %v: tensor<Bx2xTx8xf32>) -> tensor<Bx4xTx8xf32> {
  // CHECK-NEXT: %0 = "llm.attention"(%q, %k, %v) {causal = true, scale = 0.35355339, window = 4} : (tensor<Bx4xTx8xf32>, tensor<Bx2xTx8xf32>, tensor<Bx2xTx8xf32>) -> tensor<Bx4xTx8xf32>
  // CHECK-NEXT: func.return %0 : tensor<Bx4xTx8xf32>
  // CHECK-NEXT: }
  func.func @window_all_keys(%q: tensor<Bx4xTx8xf32>, %k: tensor<Bx2xTx8xf32>, %v: tensor<Bx2xTx8xf32>) -> tensor<Bx4xTx8xf32> {
    %all = "llm.constant"() {value = 1.0} : () -> tensor<Bx1x1xTxi1>
    %o = "llm.attention"(%q, %k, %v, %all) {causal = true, scale = 0.35355339, window = 4} : (tensor<Bx4xTx8xf32>, tensor<Bx2xTx8xf32>, tensor<Bx2xTx8xf32>, tensor<Bx1x1xTxi1>) -> tensor<Bx4xTx8xf32>
    func.return %o : tensor<Bx4xTx8xf32>
  }
}
