// Round trip of the reductions: axes (negative ones too), keepdim, all and none of the axes.
// RUN: pimc opt %s | pimc opt - | filecheck --match-full-lines %s

// CHECK: builtin.module {
builtin.module {
  // CHECK-LABEL: func.func @reduce(%x: tensor<Bx(S+1)x4096xf32>) -> (tensor<Bx(S+1)xf32>, tensor<Bx1x4096xf32>, tensor<4096xf32>, tensor<Bx(S+1)x1xf32>) {
  // CHECK-NEXT: %sum = "llm.reduce_sum"(%x) {axes = [-1]} : (tensor<Bx(S+1)x4096xf32>) -> tensor<Bx(S+1)xf32>
  // CHECK-NEXT: %mean = "llm.reduce_mean"(%x) {axes = [1], keepdim = true} : (tensor<Bx(S+1)x4096xf32>) -> tensor<Bx1x4096xf32>
  // CHECK-NEXT: %max = "llm.reduce_max"(%x) {axes = [0, 1], keepdim = false} : (tensor<Bx(S+1)x4096xf32>) -> tensor<4096xf32>
  // CHECK-NEXT: %m2 = "llm.reduce_max"(%x) {axes = [2], keepdim = true} : (tensor<Bx(S+1)x4096xf32>) -> tensor<Bx(S+1)x1xf32>
  // CHECK-NEXT: func.return %sum, %mean, %max, %m2 : tensor<Bx(S+1)xf32>, tensor<Bx1x4096xf32>, tensor<4096xf32>, tensor<Bx(S+1)x1xf32>
  // CHECK-NEXT: }
  func.func @reduce(%x: tensor<Bx(S+1)x4096xf32>) -> (tensor<Bx(S+1)xf32>, tensor<Bx1x4096xf32>, tensor<4096xf32>, tensor<Bx(S+1)x1xf32>) {
    %sum = "llm.reduce_sum"(%x) {axes = [-1]} : (tensor<Bx(S+1)x4096xf32>) -> tensor<Bx(S+1)xf32>
    %mean = "llm.reduce_mean"(%x) {keepdim = true, axes = [1]} : (tensor<Bx(S+1)x4096xf32>) -> tensor<Bx1x4096xf32>
    %max = "llm.reduce_max"(%x) {axes = [0, 1], keepdim = false} : (tensor<Bx(S+1)x4096xf32>) -> tensor<4096xf32>
    %m2 = "llm.reduce_max"(%x) {axes = [2], keepdim = true} : (tensor<Bx(S+1)x4096xf32>) -> tensor<Bx(S+1)x1xf32>
    func.return %sum, %mean, %max, %m2 : tensor<Bx(S+1)xf32>, tensor<Bx1x4096xf32>, tensor<4096xf32>, tensor<Bx(S+1)x1xf32>
  }
  // CHECK-LABEL: func.func @reduce_all(%x: tensor<(B*S)x8xf16>) -> (tensor<f16>, tensor<(B*S)x8xf16>) {
  // CHECK-NEXT: %all = "llm.reduce_sum"(%x) {axes = [0, -1]} : (tensor<(B*S)x8xf16>) -> tensor<f16>
  // CHECK-NEXT: %none = "llm.reduce_mean"(%x) {axes = []} : (tensor<(B*S)x8xf16>) -> tensor<(B*S)x8xf16>
  // CHECK-NEXT: func.return %all, %none : tensor<f16>, tensor<(B*S)x8xf16>
  // CHECK-NEXT: }
  func.func @reduce_all(%x: tensor<(B*S)x8xf16>) -> (tensor<f16>, tensor<(B*S)x8xf16>) {
    %all = "llm.reduce_sum"(%x) {axes = [0, -1]} : (tensor<(B*S)x8xf16>) -> tensor<f16>
    %none = "llm.reduce_mean"(%x) {axes = []} : (tensor<(B*S)x8xf16>) -> tensor<(B*S)x8xf16>
    func.return %all, %none : tensor<f16>, tensor<(B*S)x8xf16>
  }
}
// CHECK-NEXT: }
