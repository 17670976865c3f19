// llm.attention's window and softcap attributes: a window sees at least the query itself, a
// soft cap is a positive bound.
// RUN: not pimc opt --split-input-file %s 2>&1 | filecheck --strict-whitespace %s

// CHECK: {{^}}pimc: error: {{.*}}attention_window.mlir:7:3: 'llm.attention' op attribute 'window' = 0 must be at least 1 (keys per query){{$}}
func.func @window(%q: tensor<Bx4xTx16xf32>, %k: tensor<Bx2xTx16xf32>) -> tensor<Bx4xTx16xf32> {
  %o = "llm.attention"(%q, %k, %k) {causal = true, window = 0} : (tensor<Bx4xTx16xf32>, tensor<Bx2xTx16xf32>, tensor<Bx2xTx16xf32>) -> tensor<Bx4xTx16xf32>
  func.return %o : tensor<Bx4xTx16xf32>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}attention_window.mlir:13:3: 'llm.attention' op attribute 'softcap' = -1.0 must be positive{{$}}
func.func @softcap(%q: tensor<Bx4xTx16xf32>, %k: tensor<Bx2xTx16xf32>) -> tensor<Bx4xTx16xf32> {
  %o = "llm.attention"(%q, %k, %k) {softcap = -1.0} : (tensor<Bx4xTx16xf32>, tensor<Bx2xTx16xf32>, tensor<Bx2xTx16xf32>) -> tensor<Bx4xTx16xf32>
  func.return %o : tensor<Bx4xTx16xf32>
}
