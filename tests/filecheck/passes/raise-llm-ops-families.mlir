// raise-llm-ops on the forms HF decoder families beyond llama take through torch.export
// (pimc/frontend/families.py): GPT-J and Cohere's interleaved rotary, Cohere's LayerNorm spelled
// out, torch.matmul's bmm decomposition and merged key transposes (GPT-J's attention).
// RUN: pimc opt %s -p raise-llm-ops | filecheck --match-full-lines %s

builtin.module {
  // GPT-J's rotate_every_two: stack([-x[..., 1::2], x[..., 0::2]], -1).flatten(-2).
  // CHECK-LABEL: func.func @rope_interleaved(%q: tensor<Bx4xTx16xf32>, %cos: tensor<Bx1xTx16xf32>, %sin: tensor<Bx1xTx16xf32>) -> tensor<Bx4xTx16xf32> {
  // CHECK-NEXT: %0 = "llm.rope"(%q, %cos, %sin) {style = "interleaved"} : (tensor<Bx4xTx16xf32>, tensor<Bx1xTx16xf32>, tensor<Bx1xTx16xf32>) -> tensor<Bx4xTx16xf32>
  // CHECK-NEXT: func.return %0 : tensor<Bx4xTx16xf32>
  func.func @rope_interleaved(%q: tensor<Bx4xTx16xf32>, %cos: tensor<Bx1xTx16xf32>, %sin: tensor<Bx1xTx16xf32>) -> tensor<Bx4xTx16xf32> {
    %qc = "llm.mul"(%q, %cos) : (tensor<Bx4xTx16xf32>, tensor<Bx1xTx16xf32>) -> tensor<Bx4xTx16xf32>
    %even = "llm.slice"(%q) {axis = 3, end = 15, start = 0, step = 2} : (tensor<Bx4xTx16xf32>) -> tensor<Bx4xTx8xf32>
    %odd = "llm.slice"(%q) {axis = 3, end = 16, start = 1, step = 2} : (tensor<Bx4xTx16xf32>) -> tensor<Bx4xTx8xf32>
    %no = "llm.neg"(%odd) : (tensor<Bx4xTx8xf32>) -> tensor<Bx4xTx8xf32>
    %a = "llm.reshape"(%no) : (tensor<Bx4xTx8xf32>) -> tensor<Bx4xTx8x1xf32>
    %b = "llm.reshape"(%even) : (tensor<Bx4xTx8xf32>) -> tensor<Bx4xTx8x1xf32>
    %st = "llm.concat"(%a, %b) {axis = 4} : (tensor<Bx4xTx8x1xf32>, tensor<Bx4xTx8x1xf32>) -> tensor<Bx4xTx8x2xf32>
    %rot = "llm.reshape"(%st) : (tensor<Bx4xTx8x2xf32>) -> tensor<Bx4xTx16xf32>
    %rs = "llm.mul"(%rot, %sin) : (tensor<Bx4xTx16xf32>, tensor<Bx1xTx16xf32>) -> tensor<Bx4xTx16xf32>
    %y = "llm.add"(%qc, %rs) : (tensor<Bx4xTx16xf32>, tensor<Bx4xTx16xf32>) -> tensor<Bx4xTx16xf32>
    func.return %y : tensor<Bx4xTx16xf32>
  }
  // Negating the even elements instead is not a rotation.
  // CHECK-LABEL: func.func @not_rope_interleaved(%q: tensor<2x16xf32>, %cos: tensor<2x16xf32>, %sin: tensor<2x16xf32>) -> tensor<2x16xf32> {
  // CHECK-NOT: {{.*}}llm.rope{{.*}}
  // CHECK: func.return %y : tensor<2x16xf32>
  func.func @not_rope_interleaved(%q: tensor<2x16xf32>, %cos: tensor<2x16xf32>, %sin: tensor<2x16xf32>) -> tensor<2x16xf32> {
    %qc = "llm.mul"(%q, %cos) : (tensor<2x16xf32>, tensor<2x16xf32>) -> tensor<2x16xf32>
    %even = "llm.slice"(%q) {axis = 1, end = 15, start = 0, step = 2} : (tensor<2x16xf32>) -> tensor<2x8xf32>
    %odd = "llm.slice"(%q) {axis = 1, end = 16, start = 1, step = 2} : (tensor<2x16xf32>) -> tensor<2x8xf32>
    %ne = "llm.neg"(%even) : (tensor<2x8xf32>) -> tensor<2x8xf32>
    %a = "llm.reshape"(%ne) : (tensor<2x8xf32>) -> tensor<2x8x1xf32>
    %b = "llm.reshape"(%odd) : (tensor<2x8xf32>) -> tensor<2x8x1xf32>
    %st = "llm.concat"(%a, %b) {axis = 2} : (tensor<2x8x1xf32>, tensor<2x8x1xf32>) -> tensor<2x8x2xf32>
    %rot = "llm.reshape"(%st) : (tensor<2x8x2xf32>) -> tensor<2x16xf32>
    %rs = "llm.mul"(%rot, %sin) : (tensor<2x16xf32>, tensor<2x16xf32>) -> tensor<2x16xf32>
    %y = "llm.add"(%qc, %rs) : (tensor<2x16xf32>, tensor<2x16xf32>) -> tensor<2x16xf32>
    func.return %y : tensor<2x16xf32>
  }
  // Cohere's bias-free LayerNorm in ops; x - mean is computed twice (CSE runs later).
  // CHECK-LABEL: func.func @layernorm_spelled_out(%x: tensor<BxTx64xf32>, %w: tensor<64xf32>) -> tensor<BxTx64xf32> {
  // CHECK-NEXT: %0 = "llm.layernorm"(%x, %w) {eps = 1e-05} : (tensor<BxTx64xf32>, tensor<64xf32>) -> tensor<BxTx64xf32>
  // CHECK-NEXT: func.return %0 : tensor<BxTx64xf32>
  func.func @layernorm_spelled_out(%x: tensor<BxTx64xf32>, %w: tensor<64xf32>) -> tensor<BxTx64xf32> {
    %m = "llm.reduce_mean"(%x) {axes = [2], keepdim = true} : (tensor<BxTx64xf32>) -> tensor<BxTx1xf32>
    %c1 = "llm.sub"(%x, %m) : (tensor<BxTx64xf32>, tensor<BxTx1xf32>) -> tensor<BxTx64xf32>
    %sq = "llm.pow_scalar"(%c1) {exponent = 2.0} : (tensor<BxTx64xf32>) -> tensor<BxTx64xf32>
    %var = "llm.reduce_mean"(%sq) {axes = [2], keepdim = true} : (tensor<BxTx64xf32>) -> tensor<BxTx1xf32>
    %c2 = "llm.sub"(%x, %m) : (tensor<BxTx64xf32>, tensor<BxTx1xf32>) -> tensor<BxTx64xf32>
    %eps = "llm.constant"() {value = 1e-05} : () -> tensor<f32>
    %a = "llm.add"(%var, %eps) : (tensor<BxTx1xf32>, tensor<f32>) -> tensor<BxTx1xf32>
    %r = "llm.rsqrt"(%a) : (tensor<BxTx1xf32>) -> tensor<BxTx1xf32>
    %n = "llm.mul"(%c2, %r) : (tensor<BxTx64xf32>, tensor<BxTx1xf32>) -> tensor<BxTx64xf32>
    %y = "llm.mul"(%w, %n) : (tensor<64xf32>, tensor<BxTx64xf32>) -> tensor<BxTx64xf32>
    func.return %y : tensor<BxTx64xf32>
  }
  // A 4-D torch.matmul as ATen decomposes it: batch dims flattened into one bmm.
  // CHECK-LABEL: func.func @batched_matmul(%p: tensor<Bx4xTxSxf32>, %v: tensor<Bx4xSx16xf32>) -> tensor<Bx4xTx16xf32> {
  // CHECK-NEXT: %0 = "llm.matmul"(%p, %v) : (tensor<Bx4xTxSxf32>, tensor<Bx4xSx16xf32>) -> tensor<Bx4xTx16xf32>
  // CHECK-NEXT: func.return %0 : tensor<Bx4xTx16xf32>
  func.func @batched_matmul(%p: tensor<Bx4xTxSxf32>, %v: tensor<Bx4xSx16xf32>) -> tensor<Bx4xTx16xf32> {
    %pf = "llm.reshape"(%p) : (tensor<Bx4xTxSxf32>) -> tensor<(4*B)xTxSxf32>
    %vf = "llm.reshape"(%v) : (tensor<Bx4xSx16xf32>) -> tensor<(4*B)xSx16xf32>
    %o = "llm.matmul"(%pf, %vf) : (tensor<(4*B)xTxSxf32>, tensor<(4*B)xSx16xf32>) -> tensor<(4*B)xTx16xf32>
    %y = "llm.reshape"(%o) : (tensor<(4*B)xTx16xf32>) -> tensor<Bx4xTx16xf32>
    func.return %y : tensor<Bx4xTx16xf32>
  }
  // k.transpose(1, 2) and .transpose(-1, -2) merged into one permutation: the key
  // [B, H, S, D] comes back as a transpose of its own, and the matmul transposes it.
  // CHECK-LABEL: func.func @transposed_rhs(%q: tensor<Bx4xTx16xf32>, %k: tensor<BxSx4x16xf32>) -> tensor<Bx4xTxSxf32> {
  // CHECK-NEXT: %0 = "llm.transpose"(%k) {perm = [0, 2, 1, 3]} : (tensor<BxSx4x16xf32>) -> tensor<Bx4xSx16xf32>
  // CHECK-NEXT: %1 = "llm.matmul"(%q, %0) {transpose_a = false, transpose_b = true} : (tensor<Bx4xTx16xf32>, tensor<Bx4xSx16xf32>) -> tensor<Bx4xTxSxf32>
  // CHECK-NEXT: func.return %1 : tensor<Bx4xTxSxf32>
  func.func @transposed_rhs(%q: tensor<Bx4xTx16xf32>, %k: tensor<BxSx4x16xf32>) -> tensor<Bx4xTxSxf32> {
    %kt = "llm.transpose"(%k) {perm = [0, 2, 3, 1]} : (tensor<BxSx4x16xf32>) -> tensor<Bx4x16xSxf32>
    %s = "llm.matmul"(%q, %kt) : (tensor<Bx4xTx16xf32>, tensor<Bx4x16xSxf32>) -> tensor<Bx4xTxSxf32>
    func.return %s : tensor<Bx4xTxSxf32>
  }
  // A permutation that keeps the last two axes in order (v) stays as it is.
  // CHECK-LABEL: func.func @not_transposed_rhs(%p: tensor<Bx4xTxSxf32>, %v: tensor<BxSx4x16xf32>) -> tensor<Bx4xTx16xf32> {
  // CHECK-NOT: {{.*}}transpose_b{{.*}}
  // CHECK: func.return %o : tensor<Bx4xTx16xf32>
  func.func @not_transposed_rhs(%p: tensor<Bx4xTxSxf32>, %v: tensor<BxSx4x16xf32>) -> tensor<Bx4xTx16xf32> {
    %vt = "llm.transpose"(%v) {perm = [0, 2, 1, 3]} : (tensor<BxSx4x16xf32>) -> tensor<Bx4xSx16xf32>
    %o = "llm.matmul"(%p, %vt) : (tensor<Bx4xTxSxf32>, tensor<Bx4xSx16xf32>) -> tensor<Bx4xTx16xf32>
    func.return %o : tensor<Bx4xTx16xf32>
  }
}
