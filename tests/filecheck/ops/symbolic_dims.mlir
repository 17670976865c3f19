// Symbolic dims print canonically: (1+S) as (S+1), (S*B) as (B*S), (2*(S+1)) as (2*S+2),
// constant expressions as integers; the printed form parses back to itself.
// RUN: pimc opt %s | pimc opt - | filecheck --match-full-lines %s

// CHECK: builtin.module {
builtin.module {
  // CHECK-LABEL: func.func @dims(%a: tensor<(S+1)x(B*S)x(2*S+2)xf32>, %b: tensor<((S+1)//2)x(S-1)x(2*B*S)xf32>, %c: tensor<(2*S-1)x(2*(S//2))x(KV_LEN+T2)x(B*B)xf32>, %d: tensor<4x3xf32>) {
  // CHECK-NEXT: func.return
  // CHECK-NEXT: }
  func.func @dims(%a: tensor<(1+S)x(S*B)x(2*(S+1))xf32>, %b: tensor<((S+1)//2)x( S - 1 )x(B*S*2)xf32>, %c: tensor<(-1+2*S)x(S//2*2)x(KV_LEN+T2)x(B*B)xf32>, %d: tensor<(4)x(S-S+3)xf32>) {
    func.return
  }
}
// CHECK-NEXT: }
