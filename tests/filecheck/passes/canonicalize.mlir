// canonicalize: every pattern of pimc/passes/canonicalize.py, and cases that must not fold.
//  * reshape of reshape reads the innermost source (and a chain that comes back is a no-op);
//  * a reshape or cast to its operand's own type is dropped;
//  * an identity transpose is dropped; transpose of transpose composes the permutations;
//  * a reshape whose inner reshape has another user keeps that user intact;
//  * a real transpose, a real cast and a transpose of a non-transpose stay.
// The second RUN checks the max-iterations option is validated.
// RUN: pimc opt %s -p canonicalize | filecheck --match-full-lines %s
// RUN: not pimc opt %s -p 'canonicalize{max-iterations=0}' 2>&1 | filecheck --check-prefix=ITER %s
// ITER: pimc: error: option 'max-iterations' of pass 'canonicalize' must be >= 1, got 0

// CHECK: builtin.module {
builtin.module {
  // CHECK-LABEL: func.func @reshape_of_reshape(%x: tensor<BxSx4096xf16>) -> tensor<Bx(32*S)x128xf16> {
  // CHECK-NOT: {{.*}}%a = {{.*}}
  // CHECK-NOT: {{.*}}%b = {{.*}}
  // CHECK: %c = "llm.reshape"(%x) : (tensor<BxSx4096xf16>) -> tensor<Bx(32*S)x128xf16>
  // CHECK-NEXT: func.return %c : tensor<Bx(32*S)x128xf16>
  // CHECK-NEXT: }
  func.func @reshape_of_reshape(%x: tensor<BxSx4096xf16>) -> tensor<Bx(32*S)x128xf16> {
    %a = "llm.reshape"(%x) : (tensor<BxSx4096xf16>) -> tensor<(B*S)x4096xf16>
    %b = "llm.reshape"(%a) : (tensor<(B*S)x4096xf16>) -> tensor<(B*S)x32x128xf16>
    %c = "llm.reshape"(%b) : (tensor<(B*S)x32x128xf16>) -> tensor<Bx(32*S)x128xf16>
    func.return %c : tensor<Bx(32*S)x128xf16>
  }
  // CHECK-LABEL: func.func @reshape_back_to_source(%x: tensor<BxSx4096xf16>) -> tensor<BxSx4096xf16> {
  // CHECK-NOT: {{.*}}"llm.reshape"{{.*}}
  // CHECK: func.return %x : tensor<BxSx4096xf16>
  // CHECK-NEXT: }
  func.func @reshape_back_to_source(%x: tensor<BxSx4096xf16>) -> tensor<BxSx4096xf16> {
    %a = "llm.reshape"(%x) : (tensor<BxSx4096xf16>) -> tensor<(B*S)x4096xf16>
    %b = "llm.reshape"(%a) : (tensor<(B*S)x4096xf16>) -> tensor<BxSx4096xf16>
    func.return %b : tensor<BxSx4096xf16>
  }
  // CHECK-LABEL: func.func @noop_reshape_and_cast(%x: tensor<Bx(S+1)xf32>) -> tensor<Bx(S+1)xf32> {
  // CHECK-NOT: {{.*}}"llm.reshape"{{.*}}
  // CHECK-NOT: {{.*}}"llm.cast"{{.*}}
  // CHECK: %c = "llm.silu"(%x) : (tensor<Bx(S+1)xf32>) -> tensor<Bx(S+1)xf32>
  // CHECK-NEXT: func.return %c : tensor<Bx(S+1)xf32>
  // CHECK-NEXT: }
  func.func @noop_reshape_and_cast(%x: tensor<Bx(S+1)xf32>) -> tensor<Bx(S+1)xf32> {
    %a = "llm.reshape"(%x) : (tensor<Bx(S+1)xf32>) -> tensor<Bx(S+1)xf32>
    %b = "llm.cast"(%a) : (tensor<Bx(S+1)xf32>) -> tensor<Bx(S+1)xf32>
    %c = "llm.silu"(%b) : (tensor<Bx(S+1)xf32>) -> tensor<Bx(S+1)xf32>
    func.return %c : tensor<Bx(S+1)xf32>
  }
  // CHECK-LABEL: func.func @identity_transpose(%x: tensor<Bx32xSx128xf16>) -> tensor<Bx32xSx128xf16> {
  // CHECK-NOT: {{.*}}"llm.transpose"{{.*}}
  // CHECK: func.return %x : tensor<Bx32xSx128xf16>
  // CHECK-NEXT: }
  func.func @identity_transpose(%x: tensor<Bx32xSx128xf16>) -> tensor<Bx32xSx128xf16> {
    %t = "llm.transpose"(%x) {perm = [0, 1, 2, 3]} : (tensor<Bx32xSx128xf16>) -> tensor<Bx32xSx128xf16>
    func.return %t : tensor<Bx32xSx128xf16>
  }
  // CHECK-LABEL: func.func @transpose_of_transpose(%x: tensor<BxSx32x128xf16>) -> tensor<128xBx32xSxf16> {
  // CHECK-NOT: {{.*}}%a = {{.*}}
  // CHECK: %b = "llm.transpose"(%x) {perm = [3, 0, 2, 1]} : (tensor<BxSx32x128xf16>) -> tensor<128xBx32xSxf16>
  // CHECK-NEXT: func.return %b : tensor<128xBx32xSxf16>
  // CHECK-NEXT: }
  func.func @transpose_of_transpose(%x: tensor<BxSx32x128xf16>) -> tensor<128xBx32xSxf16> {
    %a = "llm.transpose"(%x) {perm = [0, 2, 1, 3]} : (tensor<BxSx32x128xf16>) -> tensor<Bx32xSx128xf16>
    %b = "llm.transpose"(%a) {perm = [3, 0, 1, 2]} : (tensor<Bx32xSx128xf16>) -> tensor<128xBx32xSxf16>
    func.return %b : tensor<128xBx32xSxf16>
  }
  // CHECK-LABEL: func.func @transpose_roundtrip(%x: tensor<BxSx32x128xf16>) -> tensor<BxSx32x128xf16> {
  // CHECK-NOT: {{.*}}"llm.transpose"{{.*}}
  // CHECK: func.return %x : tensor<BxSx32x128xf16>
  // CHECK-NEXT: }
  func.func @transpose_roundtrip(%x: tensor<BxSx32x128xf16>) -> tensor<BxSx32x128xf16> {
    %a = "llm.transpose"(%x) {perm = [0, 2, 1, 3]} : (tensor<BxSx32x128xf16>) -> tensor<Bx32xSx128xf16>
    %b = "llm.transpose"(%a) {perm = [0, 2, 1, 3]} : (tensor<Bx32xSx128xf16>) -> tensor<BxSx32x128xf16>
    func.return %b : tensor<BxSx32x128xf16>
  }
  // CHECK-LABEL: func.func @shared_inner_stays(%x: tensor<BxSx4096xf16>) -> (tensor<(B*S)x4096xf16>, tensor<(4096*B*S)xf16>) {
  // CHECK-NEXT: %a = "llm.reshape"(%x) : (tensor<BxSx4096xf16>) -> tensor<(B*S)x4096xf16>
  // CHECK-NEXT: %b = "llm.reshape"(%x) : (tensor<BxSx4096xf16>) -> tensor<(4096*B*S)xf16>
  // CHECK-NEXT: func.return %a, %b : tensor<(B*S)x4096xf16>, tensor<(4096*B*S)xf16>
  // CHECK-NEXT: }
  func.func @shared_inner_stays(%x: tensor<BxSx4096xf16>) -> (tensor<(B*S)x4096xf16>, tensor<(4096*B*S)xf16>) {
    %a = "llm.reshape"(%x) : (tensor<BxSx4096xf16>) -> tensor<(B*S)x4096xf16>
    %b = "llm.reshape"(%a) : (tensor<(B*S)x4096xf16>) -> tensor<(4096*B*S)xf16>
    func.return %a, %b : tensor<(B*S)x4096xf16>, tensor<(4096*B*S)xf16>
  }
  // CHECK-LABEL: func.func @no_fold(%x: tensor<BxSx4096xf16>, %y: tensor<Bx4096xf32>) -> (tensor<Bx4096xSxf16>, tensor<Bx4096xf16>, tensor<4096xBxf32>) {
  // CHECK-NEXT: %t = "llm.transpose"(%x) {perm = [0, 2, 1]} : (tensor<BxSx4096xf16>) -> tensor<Bx4096xSxf16>
  // CHECK-NEXT: %c = "llm.cast"(%y) : (tensor<Bx4096xf32>) -> tensor<Bx4096xf16>
  // CHECK-NEXT: %s = "llm.silu"(%y) : (tensor<Bx4096xf32>) -> tensor<Bx4096xf32>
  // CHECK-NEXT: %u = "llm.transpose"(%s) {perm = [1, 0]} : (tensor<Bx4096xf32>) -> tensor<4096xBxf32>
  // CHECK-NEXT: func.return %t, %c, %u : tensor<Bx4096xSxf16>, tensor<Bx4096xf16>, tensor<4096xBxf32>
  // CHECK-NEXT: }
  func.func @no_fold(%x: tensor<BxSx4096xf16>, %y: tensor<Bx4096xf32>) -> (tensor<Bx4096xSxf16>, tensor<Bx4096xf16>, tensor<4096xBxf32>) {
    %t = "llm.transpose"(%x) {perm = [0, 2, 1]} : (tensor<BxSx4096xf16>) -> tensor<Bx4096xSxf16>
    %c = "llm.cast"(%y) : (tensor<Bx4096xf32>) -> tensor<Bx4096xf16>
    %s = "llm.silu"(%y) : (tensor<Bx4096xf32>) -> tensor<Bx4096xf32>
    %u = "llm.transpose"(%s) {perm = [1, 0]} : (tensor<Bx4096xf32>) -> tensor<4096xBxf32>
    func.return %t, %c, %u : tensor<Bx4096xSxf16>, tensor<Bx4096xf16>, tensor<4096xBxf32>
  }
}
// CHECK-NEXT: }
