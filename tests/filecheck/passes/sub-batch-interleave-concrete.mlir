// sub-batch-interleave on a concrete batch of 4 (no symbol B): the batched arguments are those
// whose leading dim is 4, the first argument's. Three sub-batches take rows floor(k*4/3):
// 0..0, 1..1 and 2..3. The weight argument (leading dim 64) is shared; a reshape that folds
// the batch into dim 0 (4*1 rows) scales with it.
// RUN: pimc opt %s -p 'sub-batch-interleave{n=3}' | filecheck %s

func.func @decode(%x: tensor<4x1x64xf32>, %w: tensor<64x64xf32>) -> tensor<4x64xf32> {
  %f = "llm.reshape"(%x) : (tensor<4x1x64xf32>) -> tensor<4x64xf32>
  %y = "llm.linear"(%f, %w) : (tensor<4x64xf32>, tensor<64x64xf32>) -> tensor<4x64xf32>
  func.return %y : tensor<4x64xf32>
}
// CHECK-LABEL: func.func @decode(%x: tensor<4x1x64xf32>, %w: tensor<64x64xf32>) -> tensor<4x64xf32>
// CHECK-NEXT: %x_sb0 = "llm.slice"(%x) {axis = 0, end = 1, start = 0, subbatch = 0} : (tensor<4x1x64xf32>) -> tensor<1x1x64xf32>
// CHECK-NEXT: %f_sb0 = "llm.reshape"(%x_sb0) {subbatch = 0} : (tensor<1x1x64xf32>) -> tensor<1x64xf32>
// CHECK-NEXT: %y_sb0 = "llm.linear"(%f_sb0, %w) {subbatch = 0} : (tensor<1x64xf32>, tensor<64x64xf32>) -> tensor<1x64xf32>
// CHECK-NEXT: %x_sb1 = "llm.slice"(%x) {axis = 0, end = 2, start = 1, subbatch = 1} : (tensor<4x1x64xf32>) -> tensor<1x1x64xf32>
// CHECK-NEXT: %f_sb1 = "llm.reshape"(%x_sb1) {subbatch = 1}
// CHECK-NEXT: %y_sb1 = "llm.linear"(%f_sb1, %w) {subbatch = 1}
// CHECK-NEXT: %x_sb2 = "llm.slice"(%x) {axis = 0, end = 4, start = 2, subbatch = 2} : (tensor<4x1x64xf32>) -> tensor<2x1x64xf32>
// CHECK-NEXT: %f_sb2 = "llm.reshape"(%x_sb2) {subbatch = 2} : (tensor<2x1x64xf32>) -> tensor<2x64xf32>
// CHECK-NEXT: %y_sb2 = "llm.linear"(%f_sb2, %w) {subbatch = 2} : (tensor<2x64xf32>, tensor<64x64xf32>) -> tensor<2x64xf32>
// CHECK-NEXT: %y = "llm.concat"(%y_sb0, %y_sb1, %y_sb2) {axis = 0} : (tensor<1x64xf32>, tensor<1x64xf32>, tensor<2x64xf32>) -> tensor<4x64xf32>
// CHECK-NEXT: func.return %y : tensor<4x64xf32>
