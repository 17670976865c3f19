// Round trip of the elementwise llm ops: unary float math (gelu's approximation, pow_scalar's
// exponent as a float or an int) and binary ops with NumPy broadcasting over symbolic dims.
// RUN: pimc opt %s | pimc opt - | filecheck --match-full-lines %s

// CHECK: builtin.module {
builtin.module {
  // CHECK-LABEL: func.func @unary(%x: tensor<Bx(S+1)x4096xf16>) -> tensor<Bx(S+1)x4096xf16> {
  // CHECK-NEXT: %0 = "llm.silu"(%x) : (tensor<Bx(S+1)x4096xf16>) -> tensor<Bx(S+1)x4096xf16>
  // CHECK-NEXT: %1 = "llm.gelu"(%0) : (tensor<Bx(S+1)x4096xf16>) -> tensor<Bx(S+1)x4096xf16>
  // CHECK-NEXT: %2 = "llm.gelu"(%1) {approximate = "tanh"} : (tensor<Bx(S+1)x4096xf16>) -> tensor<Bx(S+1)x4096xf16>
  // CHECK-NEXT: %3 = "llm.relu"(%2) : (tensor<Bx(S+1)x4096xf16>) -> tensor<Bx(S+1)x4096xf16>
  // CHECK-NEXT: %4 = "llm.sigmoid"(%3) : (tensor<Bx(S+1)x4096xf16>) -> tensor<Bx(S+1)x4096xf16>
  // CHECK-NEXT: %5 = "llm.neg"(%4) : (tensor<Bx(S+1)x4096xf16>) -> tensor<Bx(S+1)x4096xf16>
  // CHECK-NEXT: %6 = "llm.exp"(%5) : (tensor<Bx(S+1)x4096xf16>) -> tensor<Bx(S+1)x4096xf16>
  // CHECK-NEXT: %7 = "llm.tanh"(%6) : (tensor<Bx(S+1)x4096xf16>) -> tensor<Bx(S+1)x4096xf16>
  // CHECK-NEXT: %8 = "llm.sqrt"(%7) : (tensor<Bx(S+1)x4096xf16>) -> tensor<Bx(S+1)x4096xf16>
  // CHECK-NEXT: %9 = "llm.rsqrt"(%8) : (tensor<Bx(S+1)x4096xf16>) -> tensor<Bx(S+1)x4096xf16>
  // CHECK-NEXT: %10 = "llm.reciprocal"(%9) : (tensor<Bx(S+1)x4096xf16>) -> tensor<Bx(S+1)x4096xf16>
  // CHECK-NEXT: %11 = "llm.cos"(%10) : (tensor<Bx(S+1)x4096xf16>) -> tensor<Bx(S+1)x4096xf16>
  // CHECK-NEXT: %12 = "llm.sin"(%11) : (tensor<Bx(S+1)x4096xf16>) -> tensor<Bx(S+1)x4096xf16>
  // CHECK-NEXT: %13 = "llm.pow_scalar"(%12) {exponent = 2.0} : (tensor<Bx(S+1)x4096xf16>) -> tensor<Bx(S+1)x4096xf16>
  // CHECK-NEXT: %14 = "llm.pow_scalar"(%13) {exponent = 3} : (tensor<Bx(S+1)x4096xf16>) -> tensor<Bx(S+1)x4096xf16>
  // CHECK-NEXT: %15 = "llm.pow_scalar"(%14) {exponent = -0.5} : (tensor<Bx(S+1)x4096xf16>) -> tensor<Bx(S+1)x4096xf16>
  // CHECK-NEXT: func.return %15 : tensor<Bx(S+1)x4096xf16>
  // CHECK-NEXT: }
  func.func @unary(%x: tensor<Bx(S+1)x4096xf16>) -> tensor<Bx(S+1)x4096xf16> {
    %0 = "llm.silu"(%x) : (tensor<Bx(S+1)x4096xf16>) -> tensor<Bx(S+1)x4096xf16>
    %1 = "llm.gelu"(%0) : (tensor<Bx(S+1)x4096xf16>) -> tensor<Bx(S+1)x4096xf16>
    %2 = "llm.gelu"(%1) {approximate = "tanh"} : (tensor<Bx(S+1)x4096xf16>) -> tensor<Bx(S+1)x4096xf16>
    %3 = "llm.relu"(%2) : (tensor<Bx(S+1)x4096xf16>) -> tensor<Bx(S+1)x4096xf16>
    %4 = "llm.sigmoid"(%3) : (tensor<Bx(S+1)x4096xf16>) -> tensor<Bx(S+1)x4096xf16>
    %5 = "llm.neg"(%4) : (tensor<Bx(S+1)x4096xf16>) -> tensor<Bx(S+1)x4096xf16>
    %6 = "llm.exp"(%5) : (tensor<Bx(S+1)x4096xf16>) -> tensor<Bx(S+1)x4096xf16>
    %7 = "llm.tanh"(%6) : (tensor<Bx(S+1)x4096xf16>) -> tensor<Bx(S+1)x4096xf16>
    %8 = "llm.sqrt"(%7) : (tensor<Bx(S+1)x4096xf16>) -> tensor<Bx(S+1)x4096xf16>
    %9 = "llm.rsqrt"(%8) : (tensor<Bx(S+1)x4096xf16>) -> tensor<Bx(S+1)x4096xf16>
    %10 = "llm.reciprocal"(%9) : (tensor<Bx(S+1)x4096xf16>) -> tensor<Bx(S+1)x4096xf16>
    %11 = "llm.cos"(%10) : (tensor<Bx(S+1)x4096xf16>) -> tensor<Bx(S+1)x4096xf16>
    %12 = "llm.sin"(%11) : (tensor<Bx(S+1)x4096xf16>) -> tensor<Bx(S+1)x4096xf16>
    %13 = "llm.pow_scalar"(%12) {exponent = 2.0} : (tensor<Bx(S+1)x4096xf16>) -> tensor<Bx(S+1)x4096xf16>
    %14 = "llm.pow_scalar"(%13) {exponent = 3} : (tensor<Bx(S+1)x4096xf16>) -> tensor<Bx(S+1)x4096xf16>
    %15 = "llm.pow_scalar"(%14) {exponent = -5.0e-1} : (tensor<Bx(S+1)x4096xf16>) -> tensor<Bx(S+1)x4096xf16>
    func.return %15 : tensor<Bx(S+1)x4096xf16>
  }
  // CHECK-LABEL: func.func @binary(%a: tensor<Bx(2*B)x128xbf16>, %b: tensor<128xbf16>, %c: tensor<1x(2*B)x1xbf16>, %s: tensor<bf16>) -> tensor<Bx(2*B)x128xbf16> {
  // CHECK-NEXT: %add = "llm.add"(%a, %b) : (tensor<Bx(2*B)x128xbf16>, tensor<128xbf16>) -> tensor<Bx(2*B)x128xbf16>
  // CHECK-NEXT: %sub = "llm.sub"(%c, %add) : (tensor<1x(2*B)x1xbf16>, tensor<Bx(2*B)x128xbf16>) -> tensor<Bx(2*B)x128xbf16>
  // CHECK-NEXT: %mul = "llm.mul"(%sub, %s) : (tensor<Bx(2*B)x128xbf16>, tensor<bf16>) -> tensor<Bx(2*B)x128xbf16>
  // CHECK-NEXT: %div = "llm.div"(%mul, %c) : (tensor<Bx(2*B)x128xbf16>, tensor<1x(2*B)x1xbf16>) -> tensor<Bx(2*B)x128xbf16>
  // CHECK-NEXT: %max = "llm.maximum"(%div, %a) : (tensor<Bx(2*B)x128xbf16>, tensor<Bx(2*B)x128xbf16>) -> tensor<Bx(2*B)x128xbf16>
  // CHECK-NEXT: %min = "llm.minimum"(%max, %b) : (tensor<Bx(2*B)x128xbf16>, tensor<128xbf16>) -> tensor<Bx(2*B)x128xbf16>
  // CHECK-NEXT: func.return %min : tensor<Bx(2*B)x128xbf16>
  // CHECK-NEXT: }
  func.func @binary(%a: tensor<Bx(2*B)x128xbf16>, %b: tensor<128xbf16>, %c: tensor<1x(2*B)x1xbf16>, %s: tensor<bf16>) -> tensor<Bx(2*B)x128xbf16> {
    %add = "llm.add"(%a, %b) : (tensor<Bx(2*B)x128xbf16>, tensor<128xbf16>) -> tensor<Bx(2*B)x128xbf16>
    %sub = "llm.sub"(%c, %add) : (tensor<1x(2*B)x1xbf16>, tensor<Bx(2*B)x128xbf16>) -> tensor<Bx(2*B)x128xbf16>
    %mul = "llm.mul"(%sub, %s) : (tensor<Bx(2*B)x128xbf16>, tensor<bf16>) -> tensor<Bx(2*B)x128xbf16>
    %div = "llm.div"(%mul, %c) : (tensor<Bx(2*B)x128xbf16>, tensor<1x(2*B)x1xbf16>) -> tensor<Bx(2*B)x128xbf16>
    %max = "llm.maximum"(%div, %a) : (tensor<Bx(2*B)x128xbf16>, tensor<Bx(2*B)x128xbf16>) -> tensor<Bx(2*B)x128xbf16>
    %min = "llm.minimum"(%max, %b) : (tensor<Bx(2*B)x128xbf16>, tensor<128xbf16>) -> tensor<Bx(2*B)x128xbf16>
    func.return %min : tensor<Bx(2*B)x128xbf16>
  }
  // CHECK-LABEL: func.func @broadcast_symbolic(%x: tensor<Bx1xf32>, %y: tensor<1x(S//2)xf32>, %z: tensor<(B*S)xi32>) -> (tensor<Bx(S//2)xf32>, tensor<(B*S)xi32>) {
  // CHECK-NEXT: %0 = "llm.add"(%x, %y) : (tensor<Bx1xf32>, tensor<1x(S//2)xf32>) -> tensor<Bx(S//2)xf32>
  // CHECK-NEXT: %1 = "llm.mul"(%z, %z) : (tensor<(B*S)xi32>, tensor<(B*S)xi32>) -> tensor<(B*S)xi32>
  // CHECK-NEXT: func.return %0, %1 : tensor<Bx(S//2)xf32>, tensor<(B*S)xi32>
  // CHECK-NEXT: }
  func.func @broadcast_symbolic(%x: tensor<Bx1xf32>, %y: tensor<1x(S//2)xf32>, %z: tensor<(B*S)xi32>) -> (tensor<Bx(S//2)xf32>, tensor<(B*S)xi32>) {
    %0 = "llm.add"(%x, %y) : (tensor<Bx1xf32>, tensor<1x(S//2)xf32>) -> tensor<Bx(S//2)xf32>
    %1 = "llm.mul"(%z, %z) : (tensor<(B*S)xi32>, tensor<(B*S)xi32>) -> tensor<(B*S)xi32>
    func.return %0, %1 : tensor<Bx(S//2)xf32>, tensor<(B*S)xi32>
  }
}
// CHECK-NEXT: }
