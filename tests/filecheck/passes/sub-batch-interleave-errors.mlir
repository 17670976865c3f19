// sub-batch-interleave refuses what it cannot split, with one line naming the option or the op:
// n larger than a concrete batch, a function without a batch dim, an op that works across the
// batch, the batch outside an argument's leading dim, a concrete batch moved off dim 0.
// RUN: not pimc opt --split-input-file %s -p 'sub-batch-interleave{n=3}' 2>&1 | filecheck %s

// A concrete batch of 2: three sub-batches would leave one empty.
// CHECK: pimc: error: option 'n' of pass 'sub-batch-interleave' is 3, more than the batch 2 of @decode (allowed: 1..2)
func.func @decode(%x: tensor<2x1x64xf32>) -> tensor<2x1x64xf32> {
  %y = "llm.silu"(%x) : (tensor<2x1x64xf32>) -> tensor<2x1x64xf32>
  func.return %y : tensor<2x1x64xf32>
}
// -----
// CHECK: pimc: error: option 'func' of pass 'sub-batch-interleave': @decode has no batch dim to split: no argument type uses the symbol B and its first argument has no static leading dim
func.func @decode(%x: tensor<f32>) -> tensor<f32> {
  %y = "llm.silu"(%x) : (tensor<f32>) -> tensor<f32>
  func.return %y : tensor<f32>
}
// -----
// CHECK: pimc: error: pass 'sub-batch-interleave': 'llm.softmax' works along axis 0, which holds the batch (B); splitting the batch would change what it computes
// CHECK-NEXT: %y = "llm.softmax"(%x) {axis = 0}
func.func @decode(%x: tensor<Bx1x64xf32>) -> tensor<Bx1x64xf32> {
  %y = "llm.softmax"(%x) {axis = 0} : (tensor<Bx1x64xf32>) -> tensor<Bx1x64xf32>
  func.return %y : tensor<Bx1x64xf32>
}
// -----
// CHECK: pimc: error: pass 'sub-batch-interleave': argument %x: tensor<1xBx64xf32> of @decode holds B outside its leading dim; the batch must be dim 0 alone, where the pass slices it
func.func @decode(%x: tensor<1xBx64xf32>) -> tensor<1xBx64xf32> {
  %y = "llm.silu"(%x) : (tensor<1xBx64xf32>) -> tensor<1xBx64xf32>
  func.return %y : tensor<1xBx64xf32>
}
// -----
// CHECK: pimc: error: pass 'sub-batch-interleave': 'llm.transpose' moves the batch off dim 0, where a concrete batch is split
func.func @decode(%x: tensor<4x3xf32>) -> tensor<3x4xf32> {
  %y = "llm.transpose"(%x) {perm = [1, 0]} : (tensor<4x3xf32>) -> tensor<3x4xf32>
  func.return %y : tensor<3x4xf32>
}
