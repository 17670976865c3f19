// raise-llm-ops: the patterns of pimc/passes/raise_patterns_onnx.py, in the forms the ONNX
// frontend's graphs take after canonicalize, and near-misses that must stay as they are.
// RUN: pimc opt %s -p raise-llm-ops | filecheck --match-full-lines %s

builtin.module {
  // torch.onnx writes aten.rsqrt as Reciprocal(Sqrt(x)).
  // CHECK-LABEL: func.func @rsqrt(%x: tensor<BxTx1xf32>) -> tensor<BxTx1xf32> {
  // CHECK-NEXT: %0 = "llm.rsqrt"(%x) : (tensor<BxTx1xf32>) -> tensor<BxTx1xf32>
  // CHECK-NEXT: func.return %0 : tensor<BxTx1xf32>
  // CHECK-NEXT: }
  func.func @rsqrt(%x: tensor<BxTx1xf32>) -> tensor<BxTx1xf32> {
    %s = "llm.sqrt"(%x) : (tensor<BxTx1xf32>) -> tensor<BxTx1xf32>
    %r = "llm.reciprocal"(%s) : (tensor<BxTx1xf32>) -> tensor<BxTx1xf32>
    func.return %r : tensor<BxTx1xf32>
  }
  // The reciprocal of anything else stays.
  // CHECK-LABEL: func.func @not_rsqrt(%x: tensor<BxTx1xf32>) -> tensor<BxTx1xf32> {
  // CHECK-NEXT: %s = "llm.exp"(%x) : (tensor<BxTx1xf32>) -> tensor<BxTx1xf32>
  // CHECK-NEXT: %r = "llm.reciprocal"(%s) : (tensor<BxTx1xf32>) -> tensor<BxTx1xf32>
  // CHECK-NEXT: func.return %r : tensor<BxTx1xf32>
  // CHECK-NEXT: }
  func.func @not_rsqrt(%x: tensor<BxTx1xf32>) -> tensor<BxTx1xf32> {
    %s = "llm.exp"(%x) : (tensor<BxTx1xf32>) -> tensor<BxTx1xf32>
    %r = "llm.reciprocal"(%s) : (tensor<BxTx1xf32>) -> tensor<BxTx1xf32>
    func.return %r : tensor<BxTx1xf32>
  }
  // A biased aten.linear is MatMul + Add in ONNX, so the bias add follows the raised linear.
  // CHECK-LABEL: func.func @linear_bias(%x: tensor<BxTx64xf32>, %w: tensor<32x64xf32>, %b: tensor<32xf32>) -> tensor<BxTx32xf32> {
  // CHECK-NEXT: %0 = "llm.linear"(%x, %w, %b) : (tensor<BxTx64xf32>, tensor<32x64xf32>, tensor<32xf32>) -> tensor<BxTx32xf32>
  // CHECK-NEXT: func.return %0 : tensor<BxTx32xf32>
  // CHECK-NEXT: }
  func.func @linear_bias(%x: tensor<BxTx64xf32>, %w: tensor<32x64xf32>, %b: tensor<32xf32>) -> tensor<BxTx32xf32> {
    %y = "llm.linear"(%x, %w) : (tensor<BxTx64xf32>, tensor<32x64xf32>) -> tensor<BxTx32xf32>
    %z = "llm.add"(%y, %b) : (tensor<BxTx32xf32>, tensor<32xf32>) -> tensor<BxTx32xf32>
    func.return %z : tensor<BxTx32xf32>
  }
  // The unbiased product is used too: fusing the bias would duplicate the GEMM.
  // CHECK-LABEL: func.func @not_linear_bias(%x: tensor<BxTx64xf32>, %w: tensor<32x64xf32>, %b: tensor<32xf32>) -> (tensor<BxTx32xf32>, tensor<BxTx32xf32>) {
  // CHECK-NEXT: %y = "llm.linear"(%x, %w) : (tensor<BxTx64xf32>, tensor<32x64xf32>) -> tensor<BxTx32xf32>
  // CHECK-NEXT: %z = "llm.add"(%y, %b) : (tensor<BxTx32xf32>, tensor<32xf32>) -> tensor<BxTx32xf32>
  // CHECK-NEXT: func.return %y, %z : tensor<BxTx32xf32>, tensor<BxTx32xf32>
  // CHECK-NEXT: }
  func.func @not_linear_bias(%x: tensor<BxTx64xf32>, %w: tensor<32x64xf32>, %b: tensor<32xf32>) -> (tensor<BxTx32xf32>, tensor<BxTx32xf32>) {
    %y = "llm.linear"(%x, %w) : (tensor<BxTx64xf32>, tensor<32x64xf32>) -> tensor<BxTx32xf32>
    %z = "llm.add"(%y, %b) : (tensor<BxTx32xf32>, tensor<32xf32>) -> tensor<BxTx32xf32>
    func.return %y, %z : tensor<BxTx32xf32>, tensor<BxTx32xf32>
  }
  // SDPA as torch.onnx decomposes it (opset < 23), after canonicalize: q and k^T each scaled by
  // sqrt(scale), k^T by reshape/transpose/reshape, GQA heads repeated by reshape/expand/reshape,
  // and the ONNX frontend's canonical causal mask min(relu(j - (i + S - T)), 1) * fill.
  // CHECK-LABEL: func.func @attention_gqa_causal(%q: tensor<Bx4xTx16xf32>, %k: tensor<Bx2xTx16xf32>, %v: tensor<Bx2xTx16xf32>) -> tensor<Bx4xTx16xf32> {
  // CHECK-NEXT: %0 = "llm.attention"(%q, %k, %v) {causal = true, scale = 0.25} : (tensor<Bx4xTx16xf32>, tensor<Bx2xTx16xf32>, tensor<Bx2xTx16xf32>) -> tensor<Bx4xTx16xf32>
  // CHECK-NEXT: func.return %0 : tensor<Bx4xTx16xf32>
  // CHECK-NEXT: }
  func.func @attention_gqa_causal(%q: tensor<Bx4xTx16xf32>, %k: tensor<Bx2xTx16xf32>, %v: tensor<Bx2xTx16xf32>) -> tensor<Bx4xTx16xf32> {
    %k5 = "llm.reshape"(%k) : (tensor<Bx2xTx16xf32>) -> tensor<Bx2x1xTx16xf32>
    %ke = "llm.expand"(%k5) : (tensor<Bx2x1xTx16xf32>) -> tensor<Bx2x2xTx16xf32>
    %kf = "llm.reshape"(%ke) : (tensor<Bx2x2xTx16xf32>) -> tensor<(4*B)xTx16xf32>
    %kt = "llm.transpose"(%kf) {perm = [0, 2, 1]} : (tensor<(4*B)xTx16xf32>) -> tensor<(4*B)x16xTxf32>
    %kT = "llm.reshape"(%kt) : (tensor<(4*B)x16xTxf32>) -> tensor<Bx4x16xTxf32>
    %c = "llm.constant"() {value = 0.5} : () -> tensor<f32>
    %qs = "llm.mul"(%q, %c) : (tensor<Bx4xTx16xf32>, tensor<f32>) -> tensor<Bx4xTx16xf32>
    %ks = "llm.mul"(%kT, %c) : (tensor<Bx4x16xTxf32>, tensor<f32>) -> tensor<Bx4x16xTxf32>
    %s = "llm.matmul"(%qs, %ks) : (tensor<Bx4xTx16xf32>, tensor<Bx4x16xTxf32>) -> tensor<Bx4xTxTxf32>
    %qa = "llm.arange"() {start = 0, step = 1} : () -> tensor<Txi64>
    %ka = "llm.arange"() {start = 0, step = 1} : () -> tensor<Txi64>
    %qc = "llm.reshape"(%qa) : (tensor<Txi64>) -> tensor<Tx1xi64>
    %d = "llm.sub"(%ka, %qc) : (tensor<Txi64>, tensor<Tx1xi64>) -> tensor<TxTxi64>
    %df = "llm.cast"(%d) : (tensor<TxTxi64>) -> tensor<TxTxf32>
    %r = "llm.relu"(%df) : (tensor<TxTxf32>) -> tensor<TxTxf32>
    %one = "llm.constant"() {value = 1.0} : () -> tensor<f32>
    %m = "llm.minimum"(%r, %one) : (tensor<TxTxf32>, tensor<f32>) -> tensor<TxTxf32>
    %fill = "llm.constant"() {value = -3.4028234663852886e+38} : () -> tensor<f32>
    %mask = "llm.mul"(%m, %fill) : (tensor<TxTxf32>, tensor<f32>) -> tensor<TxTxf32>
    %a = "llm.add"(%s, %mask) : (tensor<Bx4xTxTxf32>, tensor<TxTxf32>) -> tensor<Bx4xTxTxf32>
    %p = "llm.softmax"(%a) {axis = 3} : (tensor<Bx4xTxTxf32>) -> tensor<Bx4xTxTxf32>
    %v5 = "llm.reshape"(%v) : (tensor<Bx2xTx16xf32>) -> tensor<Bx2x1xTx16xf32>
    %ve = "llm.expand"(%v5) : (tensor<Bx2x1xTx16xf32>) -> tensor<Bx2x2xTx16xf32>
    %vr = "llm.reshape"(%ve) : (tensor<Bx2x2xTx16xf32>) -> tensor<Bx4xTx16xf32>
    %o = "llm.matmul"(%p, %vr) : (tensor<Bx4xTxTxf32>, tensor<Bx4xTx16xf32>) -> tensor<Bx4xTx16xf32>
    func.return %o : tensor<Bx4xTx16xf32>
  }
  // A decode step: one query over S+1 keys, no mask.
  // CHECK-LABEL: func.func @attention_decode(%q: tensor<Bx4x1x16xf32>, %k: tensor<Bx2x(S+1)x16xf32>, %v: tensor<Bx2x(S+1)x16xf32>) -> tensor<Bx4x1x16xf32> {
  // CHECK-NEXT: %0 = "llm.attention"(%q, %k, %v) {causal = false, scale = 0.25} : (tensor<Bx4x1x16xf32>, tensor<Bx2x(S+1)x16xf32>, tensor<Bx2x(S+1)x16xf32>) -> tensor<Bx4x1x16xf32>
  // CHECK-NEXT: func.return %0 : tensor<Bx4x1x16xf32>
  // CHECK-NEXT: }
  func.func @attention_decode(%q: tensor<Bx4x1x16xf32>, %k: tensor<Bx2x(S+1)x16xf32>, %v: tensor<Bx2x(S+1)x16xf32>) -> tensor<Bx4x1x16xf32> {
    %k5 = "llm.reshape"(%k) : (tensor<Bx2x(S+1)x16xf32>) -> tensor<Bx2x1x(S+1)x16xf32>
    %ke = "llm.expand"(%k5) : (tensor<Bx2x1x(S+1)x16xf32>) -> tensor<Bx2x2x(S+1)x16xf32>
    %kf = "llm.reshape"(%ke) : (tensor<Bx2x2x(S+1)x16xf32>) -> tensor<(4*B)x(S+1)x16xf32>
    %kt = "llm.transpose"(%kf) {perm = [0, 2, 1]} : (tensor<(4*B)x(S+1)x16xf32>) -> tensor<(4*B)x16x(S+1)xf32>
    %kT = "llm.reshape"(%kt) : (tensor<(4*B)x16x(S+1)xf32>) -> tensor<Bx4x16x(S+1)xf32>
    %c = "llm.constant"() {value = 0.5} : () -> tensor<f32>
    %qs = "llm.mul"(%q, %c) : (tensor<Bx4x1x16xf32>, tensor<f32>) -> tensor<Bx4x1x16xf32>
    %ks = "llm.mul"(%kT, %c) : (tensor<Bx4x16x(S+1)xf32>, tensor<f32>) -> tensor<Bx4x16x(S+1)xf32>
    %s = "llm.matmul"(%qs, %ks) : (tensor<Bx4x1x16xf32>, tensor<Bx4x16x(S+1)xf32>) -> tensor<Bx4x1x(S+1)xf32>
    %p = "llm.softmax"(%s) {axis = 3} : (tensor<Bx4x1x(S+1)xf32>) -> tensor<Bx4x1x(S+1)xf32>
    %v5 = "llm.reshape"(%v) : (tensor<Bx2x(S+1)x16xf32>) -> tensor<Bx2x1x(S+1)x16xf32>
    %ve = "llm.expand"(%v5) : (tensor<Bx2x1x(S+1)x16xf32>) -> tensor<Bx2x2x(S+1)x16xf32>
    %vr = "llm.reshape"(%ve) : (tensor<Bx2x2x(S+1)x16xf32>) -> tensor<Bx4x(S+1)x16xf32>
    %o = "llm.matmul"(%p, %vr) : (tensor<Bx4x1x(S+1)xf32>, tensor<Bx4x(S+1)x16xf32>) -> tensor<Bx4x1x16xf32>
    func.return %o : tensor<Bx4x1x16xf32>
  }
  // Scores scaled after the GEMM and an explicit additive mask (either operand order): the mask
  // stays an operand.
  // CHECK-LABEL: func.func @attention_mha_mask(%q: tensor<Bx4xTx16xf32>, %k: tensor<Bx4xSx16xf32>, %v: tensor<Bx4xSx16xf32>, %mask: tensor<Bx1xTxSxf32>) -> tensor<Bx4xTx16xf32> {
  // CHECK-NEXT: %0 = "llm.attention"(%q, %k, %v, %mask) {causal = false, scale = 0.25} : (tensor<Bx4xTx16xf32>, tensor<Bx4xSx16xf32>, tensor<Bx4xSx16xf32>, tensor<Bx1xTxSxf32>) -> tensor<Bx4xTx16xf32>
  // CHECK-NEXT: func.return %0 : tensor<Bx4xTx16xf32>
  // CHECK-NEXT: }
  func.func @attention_mha_mask(%q: tensor<Bx4xTx16xf32>, %k: tensor<Bx4xSx16xf32>, %v: tensor<Bx4xSx16xf32>, %mask: tensor<Bx1xTxSxf32>) -> tensor<Bx4xTx16xf32> {
    %kt = "llm.transpose"(%k) {perm = [0, 1, 3, 2]} : (tensor<Bx4xSx16xf32>) -> tensor<Bx4x16xSxf32>
    %s = "llm.matmul"(%q, %kt) : (tensor<Bx4xTx16xf32>, tensor<Bx4x16xSxf32>) -> tensor<Bx4xTxSxf32>
    %four = "llm.constant"() {value = 4.0} : () -> tensor<f32>
    %sc = "llm.div"(%s, %four) : (tensor<Bx4xTxSxf32>, tensor<f32>) -> tensor<Bx4xTxSxf32>
    %a = "llm.add"(%mask, %sc) : (tensor<Bx1xTxSxf32>, tensor<Bx4xTxSxf32>) -> tensor<Bx4xTxSxf32>
    %p = "llm.softmax"(%a) {axis = 3} : (tensor<Bx4xTxSxf32>) -> tensor<Bx4xTxSxf32>
    %o = "llm.matmul"(%p, %v) : (tensor<Bx4xTxSxf32>, tensor<Bx4xSx16xf32>) -> tensor<Bx4xTx16xf32>
    func.return %o : tensor<Bx4xTx16xf32>
  }
  // The mask form with queries at 0..T (top-left) differs from pimc's bottom-right causal when
  // T != S: it stays an explicit mask.
  // CHECK-LABEL: func.func @top_left_mask_is_not_causal(%q: tensor<Bx4xTx16xf32>, %k: tensor<Bx4xSx16xf32>, %v: tensor<Bx4xSx16xf32>) -> tensor<Bx4xTx16xf32> {
  // CHECK-NEXT: %qa = "llm.arange"() {start = 0, step = 1} : () -> tensor<Txi64>
  // CHECK-NEXT: %ka = "llm.arange"() {start = 0, step = 1} : () -> tensor<Sxi64>
  // CHECK-NEXT: %qc = "llm.reshape"(%qa) : (tensor<Txi64>) -> tensor<Tx1xi64>
  // CHECK-NEXT: %d = "llm.sub"(%ka, %qc) : (tensor<Sxi64>, tensor<Tx1xi64>) -> tensor<TxSxi64>
  // CHECK-NEXT: %df = "llm.cast"(%d) : (tensor<TxSxi64>) -> tensor<TxSxf32>
  // CHECK-NEXT: %r = "llm.relu"(%df) : (tensor<TxSxf32>) -> tensor<TxSxf32>
  // CHECK-NEXT: %one = "llm.constant"() {value = 1.0} : () -> tensor<f32>
  // CHECK-NEXT: %m = "llm.minimum"(%r, %one) : (tensor<TxSxf32>, tensor<f32>) -> tensor<TxSxf32>
  // CHECK-NEXT: %fill = "llm.constant"() {value = -3.4028234663852886e+38} : () -> tensor<f32>
  // CHECK-NEXT: %mask = "llm.mul"(%m, %fill) : (tensor<TxSxf32>, tensor<f32>) -> tensor<TxSxf32>
  // CHECK-NEXT: %0 = "llm.attention"(%q, %k, %v, %mask) {causal = false, scale = 1.0} : (tensor<Bx4xTx16xf32>, tensor<Bx4xSx16xf32>, tensor<Bx4xSx16xf32>, tensor<TxSxf32>) -> tensor<Bx4xTx16xf32>
  // CHECK-NEXT: func.return %0 : tensor<Bx4xTx16xf32>
  // CHECK-NEXT: }
  func.func @top_left_mask_is_not_causal(%q: tensor<Bx4xTx16xf32>, %k: tensor<Bx4xSx16xf32>, %v: tensor<Bx4xSx16xf32>) -> tensor<Bx4xTx16xf32> {
    %kt = "llm.transpose"(%k) {perm = [0, 1, 3, 2]} : (tensor<Bx4xSx16xf32>) -> tensor<Bx4x16xSxf32>
    %s = "llm.matmul"(%q, %kt) : (tensor<Bx4xTx16xf32>, tensor<Bx4x16xSxf32>) -> tensor<Bx4xTxSxf32>
    %qa = "llm.arange"() {start = 0, step = 1} : () -> tensor<Txi64>
    %ka = "llm.arange"() {start = 0, step = 1} : () -> tensor<Sxi64>
    %qc = "llm.reshape"(%qa) : (tensor<Txi64>) -> tensor<Tx1xi64>
    %d = "llm.sub"(%ka, %qc) : (tensor<Sxi64>, tensor<Tx1xi64>) -> tensor<TxSxi64>
    %df = "llm.cast"(%d) : (tensor<TxSxi64>) -> tensor<TxSxf32>
    %r = "llm.relu"(%df) : (tensor<TxSxf32>) -> tensor<TxSxf32>
    %one = "llm.constant"() {value = 1.0} : () -> tensor<f32>
    %m = "llm.minimum"(%r, %one) : (tensor<TxSxf32>, tensor<f32>) -> tensor<TxSxf32>
    %fill = "llm.constant"() {value = -3.4028234663852886e+38} : () -> tensor<f32>
    %mask = "llm.mul"(%m, %fill) : (tensor<TxSxf32>, tensor<f32>) -> tensor<TxSxf32>
    %a = "llm.add"(%s, %mask) : (tensor<Bx4xTxSxf32>, tensor<TxSxf32>) -> tensor<Bx4xTxSxf32>
    %p = "llm.softmax"(%a) {axis = 3} : (tensor<Bx4xTxSxf32>) -> tensor<Bx4xTxSxf32>
    %o = "llm.matmul"(%p, %v) : (tensor<Bx4xTxSxf32>, tensor<Bx4xSx16xf32>) -> tensor<Bx4xTx16xf32>
    func.return %o : tensor<Bx4xTx16xf32>
  }
  // Softmax over the query axis is not attention.
  // CHECK-LABEL: func.func @softmax_over_queries_is_not_attention(%q: tensor<Bx4xTx16xf32>, %k: tensor<Bx4xTx16xf32>, %v: tensor<Bx4xTx16xf32>) -> tensor<Bx4xTx16xf32> {
  // CHECK-NEXT: %kt = "llm.transpose"(%k) {perm = [0, 1, 3, 2]} : (tensor<Bx4xTx16xf32>) -> tensor<Bx4x16xTxf32>
  // CHECK-NEXT: %s = "llm.matmul"(%q, %kt) : (tensor<Bx4xTx16xf32>, tensor<Bx4x16xTxf32>) -> tensor<Bx4xTxTxf32>
  // CHECK-NEXT: %p = "llm.softmax"(%s) {axis = 2} : (tensor<Bx4xTxTxf32>) -> tensor<Bx4xTxTxf32>
  // CHECK-NEXT: %o = "llm.matmul"(%p, %v) : (tensor<Bx4xTxTxf32>, tensor<Bx4xTx16xf32>) -> tensor<Bx4xTx16xf32>
  // CHECK-NEXT: func.return %o : tensor<Bx4xTx16xf32>
  // CHECK-NEXT: }
  func.func @softmax_over_queries_is_not_attention(%q: tensor<Bx4xTx16xf32>, %k: tensor<Bx4xTx16xf32>, %v: tensor<Bx4xTx16xf32>) -> tensor<Bx4xTx16xf32> {
    %kt = "llm.transpose"(%k) {perm = [0, 1, 3, 2]} : (tensor<Bx4xTx16xf32>) -> tensor<Bx4x16xTxf32>
    %s = "llm.matmul"(%q, %kt) : (tensor<Bx4xTx16xf32>, tensor<Bx4x16xTxf32>) -> tensor<Bx4xTxTxf32>
    %p = "llm.softmax"(%s) {axis = 2} : (tensor<Bx4xTxTxf32>) -> tensor<Bx4xTxTxf32>
    %o = "llm.matmul"(%p, %v) : (tensor<Bx4xTxTxf32>, tensor<Bx4xTx16xf32>) -> tensor<Bx4xTx16xf32>
    func.return %o : tensor<Bx4xTx16xf32>
  }
  // q @ k (no transpose of the keys) is not attention.
  // CHECK-LABEL: func.func @untransposed_keys_are_not_attention(%q: tensor<Bx4x16x16xf32>, %k: tensor<Bx4x16x16xf32>, %v: tensor<Bx4x16x16xf32>) -> tensor<Bx4x16x16xf32> {
  // CHECK-NEXT: %s = "llm.matmul"(%q, %k) : (tensor<Bx4x16x16xf32>, tensor<Bx4x16x16xf32>) -> tensor<Bx4x16x16xf32>
  // CHECK-NEXT: %p = "llm.softmax"(%s) {axis = 3} : (tensor<Bx4x16x16xf32>) -> tensor<Bx4x16x16xf32>
  // CHECK-NEXT: %o = "llm.matmul"(%p, %v) : (tensor<Bx4x16x16xf32>, tensor<Bx4x16x16xf32>) -> tensor<Bx4x16x16xf32>
  // CHECK-NEXT: func.return %o : tensor<Bx4x16x16xf32>
  // CHECK-NEXT: }
  func.func @untransposed_keys_are_not_attention(%q: tensor<Bx4x16x16xf32>, %k: tensor<Bx4x16x16xf32>, %v: tensor<Bx4x16x16xf32>) -> tensor<Bx4x16x16xf32> {
    %s = "llm.matmul"(%q, %k) : (tensor<Bx4x16x16xf32>, tensor<Bx4x16x16xf32>) -> tensor<Bx4x16x16xf32>
    %p = "llm.softmax"(%s) {axis = 3} : (tensor<Bx4x16x16xf32>) -> tensor<Bx4x16x16xf32>
    %o = "llm.matmul"(%p, %v) : (tensor<Bx4x16x16xf32>, tensor<Bx4x16x16xf32>) -> tensor<Bx4x16x16xf32>
    func.return %o : tensor<Bx4x16x16xf32>
  }
}
