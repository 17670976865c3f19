// Round trip of the llm_logic ops (pimc/ir/dialects/llm_logic.py): the comparisons, boolean
// logic, NaN tests, where, cumsum, trilu, scatter_nd, erf and mod that ONNX mask and index code
// imports as (their semantics: pimc/ir/logic_reference.py).
// RUN: pimc opt %s | pimc opt - | filecheck --match-full-lines %s

// CHECK: builtin.module {
// CHECK-NEXT: func.func @masks(%a: tensor<BxSxi64>, %b: tensor<Tx1xi64>, %x: tensor<BxSxf32>, %idx: tensor<Nx1xi64>, %upd: tensor<NxSxf32>) -> (tensor<BxSxf32>, tensor<BxSxi64>, tensor<TxSxf32>, tensor<BxSxf32>, tensor<BxSxf32>, tensor<BxSxi64>) {
// CHECK-NEXT: %lt = "llm.compare"(%a, %a) {predicate = "lt"} : (tensor<BxSxi64>, tensor<BxSxi64>) -> tensor<BxSxi1>
// CHECK-NEXT: %nan = "llm.isnan"(%x) : (tensor<BxSxf32>) -> tensor<BxSxi1>
// CHECK-NEXT: %or = "llm.logical"(%lt, %nan) {op = "or"} : (tensor<BxSxi1>, tensor<BxSxi1>) -> tensor<BxSxi1>
// CHECK-NEXT: %not = "llm.not"(%or) : (tensor<BxSxi1>) -> tensor<BxSxi1>
// CHECK-NEXT: %zero = "llm.constant"() {value = 0.0} : () -> tensor<f32>
// CHECK-NEXT: %w = "llm.where"(%not, %x, %zero) : (tensor<BxSxi1>, tensor<BxSxf32>, tensor<f32>) -> tensor<BxSxf32>
// CHECK-NEXT: %c = "llm.cumsum"(%a) {axis = 1, exclusive = true, reverse = true} : (tensor<BxSxi64>) -> tensor<BxSxi64>
// CHECK-NEXT: %ones = "llm.constant"() {value = 1.0} : () -> tensor<TxSxf32>
// CHECK-NEXT: %tri = "llm.trilu"(%ones) {k = #pimc.sym<"S-T">, upper = false} : (tensor<TxSxf32>) -> tensor<TxSxf32>
// CHECK-NEXT: %e = "llm.erf"(%x) : (tensor<BxSxf32>) -> tensor<BxSxf32>
// CHECK-NEXT: %s = "llm.scatter_nd"(%x, %idx, %upd) : (tensor<BxSxf32>, tensor<Nx1xi64>, tensor<NxSxf32>) -> tensor<BxSxf32>
// CHECK-NEXT: %m = "llm.mod"(%a, %a) : (tensor<BxSxi64>, tensor<BxSxi64>) -> tensor<BxSxi64>
// CHECK-NEXT: func.return %w, %c, %tri, %e, %s, %m : tensor<BxSxf32>, tensor<BxSxi64>, tensor<TxSxf32>, tensor<BxSxf32>, tensor<BxSxf32>, tensor<BxSxi64>
// CHECK-NEXT: }
// CHECK-NEXT: }
builtin.module {
  func.func @masks(%a: tensor<BxSxi64>, %b: tensor<Tx1xi64>, %x: tensor<BxSxf32>, %idx: tensor<Nx1xi64>, %upd: tensor<NxSxf32>) -> (tensor<BxSxf32>, tensor<BxSxi64>, tensor<TxSxf32>, tensor<BxSxf32>, tensor<BxSxf32>, tensor<BxSxi64>) {
    %lt = "llm.compare"(%a, %a) {predicate = "lt"} : (tensor<BxSxi64>, tensor<BxSxi64>) -> tensor<BxSxi1>
    %nan = "llm.isnan"(%x) : (tensor<BxSxf32>) -> tensor<BxSxi1>
    %or = "llm.logical"(%lt, %nan) {op = "or"} : (tensor<BxSxi1>, tensor<BxSxi1>) -> tensor<BxSxi1>
    %not = "llm.not"(%or) : (tensor<BxSxi1>) -> tensor<BxSxi1>
    %zero = "llm.constant"() {value = 0.0} : () -> tensor<f32>
    %w = "llm.where"(%not, %x, %zero) : (tensor<BxSxi1>, tensor<BxSxf32>, tensor<f32>) -> tensor<BxSxf32>
    %c = "llm.cumsum"(%a) {axis = 1, exclusive = true, reverse = true} : (tensor<BxSxi64>) -> tensor<BxSxi64>
    %ones = "llm.constant"() {value = 1.0} : () -> tensor<TxSxf32>
    %tri = "llm.trilu"(%ones) {k = #pimc.sym<"S-T">, upper = false} : (tensor<TxSxf32>) -> tensor<TxSxf32>
    %e = "llm.erf"(%x) : (tensor<BxSxf32>) -> tensor<BxSxf32>
    %s = "llm.scatter_nd"(%x, %idx, %upd) : (tensor<BxSxf32>, tensor<Nx1xi64>, tensor<NxSxf32>) -> tensor<BxSxf32>
    %m = "llm.mod"(%a, %a) : (tensor<BxSxi64>, tensor<BxSxi64>) -> tensor<BxSxi64>
    func.return %w, %c, %tri, %e, %s, %m : tensor<BxSxf32>, tensor<BxSxi64>, tensor<TxSxf32>, tensor<BxSxf32>, tensor<BxSxf32>, tensor<BxSxi64>
  }
}
