// sub-batch-interleave on llama-tiny's @decode (2 layers, hidden 64, 4 heads, 2 KV heads, vocab
// 256; captured with torch.export, then the default pipeline, printed without locations).
// Order (NeuPIMs §5): sb0 up to its layer-0 attention, then sb1 up to its layer-0 attention
// (its QKV generation beside sb0's attention), then sb0's O projection, FFN and layer-1 QKV up
// to its layer-1 attention (beside sb1's layer-0 attention), and so on; the logits are joined
// back to B rows, and each present KV cache is the past cache with the joined new rows appended.
// RUN: pimc opt %s -p 'sub-batch-interleave' | filecheck %s
// RUN: pimc opt %s -p 'analyze-intensity,place-devices{target=neupims,policy=neupims,batch=64},lower-to-pim,sub-batch-interleave' | filecheck %s --check-prefix=LOWERED
// RUN: pimc opt %s -p 'sub-batch-interleave,analyze-intensity,place-devices{target=neupims,policy=neupims,batch=64},lower-to-pim' | filecheck %s --check-prefix=SPLIT-FIRST

// CHECK-LABEL: func.func @decode(%input_ids: tensor<Bx1xi64>, %position_ids: tensor<Bx1xi64>, %past_keys_0: tensor<Bx2xSx16xf32>, %past_keys_1: tensor<Bx2xSx16xf32>, %past_values_0: tensor<Bx2xSx16xf32>, %past_values_1: tensor<Bx2xSx16xf32>) -> (tensor<Bx1x256xf32>, tensor<Bx2x(S+1)x16xf32>, tensor<Bx2x(S+1)x16xf32>, tensor<Bx2x(S+1)x16xf32>, tensor<Bx2x(S+1)x16xf32>)
// CHECK-NEXT: %input_ids_sb0 = "llm.slice"(%input_ids) {axis = 0, end = #pimc.sym<"B//2">, start = 0, subbatch = 0} : (tensor<Bx1xi64>) -> tensor<(B//2)x1xi64>
// CHECK-NOT: subbatch = 1
// CHECK: "llm.embedding"(%input_ids_sb0, %0) {subbatch = 0} : (tensor<(B//2)x1xi64>, tensor<256x64xf32>) -> tensor<(B//2)x1x64xf32>
// CHECK-NOT: subbatch = 1
// CHECK: %past_keys_0_sb0 = "llm.slice"(%past_keys_0) {axis = 0, end = #pimc.sym<"B//2">, start = 0, subbatch = 0}
// CHECK-NOT: subbatch = 1
// CHECK: "llm.attention"({{.*}}) {causal = false, scale = 0.25, subbatch = 0} : (tensor<(B//2)x4x1x16xf32>, tensor<(B//2)x2x(S+1)x16xf32>, tensor<(B//2)x2x(S+1)x16xf32>) -> tensor<(B//2)x4x1x16xf32>
// CHECK-NEXT: %input_ids_sb1 = "llm.slice"(%input_ids) {axis = 0, end = #pimc.sym<"B">, start = #pimc.sym<"B//2">, subbatch = 1} : (tensor<Bx1xi64>) -> tensor<(B-B//2)x1xi64>
// CHECK-NOT: subbatch = 0
// CHECK: "llm.attention"({{.*}}) {causal = false, scale = 0.25, subbatch = 1} : (tensor<(B-B//2)x4x1x16xf32>, tensor<(B-B//2)x2x(S+1)x16xf32>, tensor<(B-B//2)x2x(S+1)x16xf32>) -> tensor<(B-B//2)x4x1x16xf32>
// CHECK-NEXT: "llm.transpose"({{.*}}) {perm = [0, 2, 1, 3], subbatch = 0}
// CHECK-NOT: subbatch = 1
// CHECK: "llm.attention"({{.*}}) {causal = false, scale = 0.25, subbatch = 0}
// CHECK-NOT: subbatch = 0
// CHECK: "llm.attention"({{.*}}) {causal = false, scale = 0.25, subbatch = 1}
// CHECK-NOT: subbatch = 1
// CHECK: "llm.linear"({{.*}}) {subbatch = 0} : (tensor<(B//2)x1x64xf32>, tensor<256x64xf32>) -> tensor<(B//2)x1x256xf32>
// CHECK-NOT: subbatch = 0
// CHECK: "llm.linear"({{.*}}) {subbatch = 1} : (tensor<(B-B//2)x1x64xf32>, tensor<256x64xf32>) -> tensor<(B-B//2)x1x256xf32>
// CHECK-NEXT: %[[LOGITS:.*]] = "llm.concat"({{.*}}) {axis = 0} : (tensor<(B//2)x1x256xf32>, tensor<(B-B//2)x1x256xf32>) -> tensor<Bx1x256xf32>
// CHECK-NEXT: %[[NEW_K0:.*]] = "llm.concat"({{.*}}) {axis = 0} : (tensor<(B//2)x2x1x16xf32>, tensor<(B-B//2)x2x1x16xf32>) -> tensor<Bx2x1x16xf32>
// CHECK-NEXT: %[[K0:.*]] = "llm.concat"(%past_keys_0, %[[NEW_K0]]) {axis = 2} : (tensor<Bx2xSx16xf32>, tensor<Bx2x1x16xf32>) -> tensor<Bx2x(S+1)x16xf32>
// CHECK-NEXT: %[[NEW_K1:.*]] = "llm.concat"({{.*}}) {axis = 0}
// CHECK-NEXT: %[[K1:.*]] = "llm.concat"(%past_keys_1, %[[NEW_K1]]) {axis = 2}
// CHECK-NEXT: %[[NEW_V0:.*]] = "llm.concat"({{.*}}) {axis = 0}
// CHECK-NEXT: %[[V0:.*]] = "llm.concat"(%past_values_0, %[[NEW_V0]]) {axis = 2}
// CHECK-NEXT: %[[NEW_V1:.*]] = "llm.concat"({{.*}}) {axis = 0}
// CHECK-NEXT: %[[V1:.*]] = "llm.concat"(%past_values_1, %[[NEW_V1]]) {axis = 2}
// CHECK-NEXT: func.return %[[LOGITS]], %[[K0]], %[[K1]], %[[V0]], %[[V1]] : tensor<Bx1x256xf32>, tensor<Bx2x(S+1)x16xf32>, tensor<Bx2x(S+1)x16xf32>, tensor<Bx2x(S+1)x16xf32>, tensor<Bx2x(S+1)x16xf32>

// Split after placement and lowering (or before, below), the MHA of each sub-batch is a
// pim.attention on PIM, in the same interleaved order.
// LOWERED: "pim.attention"({{.*}}) {banks_per_channel = 16, channels = 32, cost = {bytes = #pimc.sym<"256*S*(B//2)+768*(B//2)">, {{.*}}}, device = #pimc.device<"pim">, scale = 0.25, subbatch = 0}
// LOWERED: "pim.attention"({{.*}}) {{.*}}, device = #pimc.device<"pim">, scale = 0.25, subbatch = 1}
// LOWERED: "pim.attention"({{.*}}) {{.*}}, device = #pimc.device<"pim">, scale = 0.25, subbatch = 0}
// LOWERED: "pim.attention"({{.*}}) {{.*}}, device = #pimc.device<"pim">, scale = 0.25, subbatch = 1}
// LOWERED-NOT: "pim.attention"
// lower-to-pim keeps only `device` and `cost` of the op it rewrites, so run this pass after it to
// keep `subbatch` on the pim ops; the order is the same either way.
// SPLIT-FIRST: "pim.attention"({{.*}}} : (tensor<(B//2)x4x1x16xf32>, {{.*}}
// SPLIT-FIRST: "pim.attention"({{.*}}} : (tensor<(B-B//2)x4x1x16xf32>, {{.*}}
// SPLIT-FIRST: "pim.attention"({{.*}}} : (tensor<(B//2)x4x1x16xf32>, {{.*}}
// SPLIT-FIRST: "pim.attention"({{.*}}} : (tensor<(B-B//2)x4x1x16xf32>, {{.*}}

builtin.module attributes {pimc.max_seq_len = 128} {
  func.func @decode(%input_ids: tensor<Bx1xi64>, %position_ids: tensor<Bx1xi64>, %past_keys_0: tensor<Bx2xSx16xf32>, %past_keys_1: tensor<Bx2xSx16xf32>, %past_values_0: tensor<Bx2xSx16xf32>, %past_values_1: tensor<Bx2xSx16xf32>) -> (tensor<Bx1x256xf32>, tensor<Bx2x(S+1)x16xf32>, tensor<Bx2x(S+1)x16xf32>, tensor<Bx2x(S+1)x16xf32>, tensor<Bx2x(S+1)x16xf32>) {
    %0 = "llm.weight"() {handle = #pimc.weight<"model.embed_tokens.weight">} : () -> tensor<256x64xf32>
    %1 = "llm.embedding"(%input_ids, %0) : (tensor<Bx1xi64>, tensor<256x64xf32>) -> tensor<Bx1x64xf32>
    %2 = "llm.reshape"(%position_ids) : (tensor<Bx1xi64>) -> tensor<Bx1x1xi64>
    %3 = "llm.cast"(%2) : (tensor<Bx1x1xi64>) -> tensor<Bx1x1xf32>
    %4 = "llm.weight"() {handle = #pimc.weight<"model.rotary_emb.inv_freq">} : () -> tensor<8xf32>
    %5 = "llm.mul"(%3, %4) : (tensor<Bx1x1xf32>, tensor<8xf32>) -> tensor<Bx1x8xf32>
    %6 = "llm.concat"(%5, %5) {axis = 2} : (tensor<Bx1x8xf32>, tensor<Bx1x8xf32>) -> tensor<Bx1x16xf32>
    %7 = "llm.cos"(%6) : (tensor<Bx1x16xf32>) -> tensor<Bx1x16xf32>
    %8 = "llm.constant"() {value = 1.0} : () -> tensor<f32>
    %9 = "llm.mul"(%7, %8) : (tensor<Bx1x16xf32>, tensor<f32>) -> tensor<Bx1x16xf32>
    %10 = "llm.sin"(%6) : (tensor<Bx1x16xf32>) -> tensor<Bx1x16xf32>
    %11 = "llm.mul"(%10, %8) : (tensor<Bx1x16xf32>, tensor<f32>) -> tensor<Bx1x16xf32>
    %12 = "llm.weight"() {handle = #pimc.weight<"model.layers.0.input_layernorm.weight">} : () -> tensor<64xf32>
    %13 = "llm.rmsnorm"(%1, %12) {eps = 1e-06} : (tensor<Bx1x64xf32>, tensor<64xf32>) -> tensor<Bx1x64xf32>
    %14 = "llm.weight"() {handle = #pimc.weight<"model.layers.0.self_attn.q_proj.weight">} : () -> tensor<64x64xf32>
    %15 = "llm.linear"(%13, %14) : (tensor<Bx1x64xf32>, tensor<64x64xf32>) -> tensor<Bx1x64xf32>
    %16 = "llm.reshape"(%15) : (tensor<Bx1x64xf32>) -> tensor<Bx1x4x16xf32>
    %17 = "llm.transpose"(%16) {perm = [0, 2, 1, 3]} : (tensor<Bx1x4x16xf32>) -> tensor<Bx4x1x16xf32>
    %18 = "llm.weight"() {handle = #pimc.weight<"model.layers.0.self_attn.k_proj.weight">} : () -> tensor<32x64xf32>
    %19 = "llm.linear"(%13, %18) : (tensor<Bx1x64xf32>, tensor<32x64xf32>) -> tensor<Bx1x32xf32>
    %20 = "llm.reshape"(%19) : (tensor<Bx1x32xf32>) -> tensor<Bx1x2x16xf32>
    %21 = "llm.transpose"(%20) {perm = [0, 2, 1, 3]} : (tensor<Bx1x2x16xf32>) -> tensor<Bx2x1x16xf32>
    %22 = "llm.weight"() {handle = #pimc.weight<"model.layers.0.self_attn.v_proj.weight">} : () -> tensor<32x64xf32>
    %23 = "llm.linear"(%13, %22) : (tensor<Bx1x64xf32>, tensor<32x64xf32>) -> tensor<Bx1x32xf32>
    %24 = "llm.reshape"(%23) : (tensor<Bx1x32xf32>) -> tensor<Bx1x2x16xf32>
    %25 = "llm.transpose"(%24) {perm = [0, 2, 1, 3]} : (tensor<Bx1x2x16xf32>) -> tensor<Bx2x1x16xf32>
    %26 = "llm.reshape"(%9) : (tensor<Bx1x16xf32>) -> tensor<Bx1x1x16xf32>
    %27 = "llm.reshape"(%11) : (tensor<Bx1x16xf32>) -> tensor<Bx1x1x16xf32>
    %28 = "llm.rope"(%17, %26, %27) {style = "half"} : (tensor<Bx4x1x16xf32>, tensor<Bx1x1x16xf32>, tensor<Bx1x1x16xf32>) -> tensor<Bx4x1x16xf32>
    %29 = "llm.rope"(%21, %26, %27) {style = "half"} : (tensor<Bx2x1x16xf32>, tensor<Bx1x1x16xf32>, tensor<Bx1x1x16xf32>) -> tensor<Bx2x1x16xf32>
    %30 = "llm.concat"(%past_keys_0, %29) {axis = 2} : (tensor<Bx2xSx16xf32>, tensor<Bx2x1x16xf32>) -> tensor<Bx2x(S+1)x16xf32>
    %31 = "llm.concat"(%past_values_0, %25) {axis = 2} : (tensor<Bx2xSx16xf32>, tensor<Bx2x1x16xf32>) -> tensor<Bx2x(S+1)x16xf32>
    %32 = "llm.attention"(%28, %30, %31) {causal = false, scale = 0.25} : (tensor<Bx4x1x16xf32>, tensor<Bx2x(S+1)x16xf32>, tensor<Bx2x(S+1)x16xf32>) -> tensor<Bx4x1x16xf32>
    %33 = "llm.transpose"(%32) {perm = [0, 2, 1, 3]} : (tensor<Bx4x1x16xf32>) -> tensor<Bx1x4x16xf32>
    %34 = "llm.weight"() {handle = #pimc.weight<"model.layers.0.self_attn.o_proj.weight">} : () -> tensor<64x64xf32>
    %35 = "llm.reshape"(%33) : (tensor<Bx1x4x16xf32>) -> tensor<Bx64xf32>
    %36 = "llm.linear"(%35, %34) : (tensor<Bx64xf32>, tensor<64x64xf32>) -> tensor<Bx64xf32>
    %37 = "llm.reshape"(%36) : (tensor<Bx64xf32>) -> tensor<Bx1x64xf32>
    %38 = "llm.add"(%1, %37) : (tensor<Bx1x64xf32>, tensor<Bx1x64xf32>) -> tensor<Bx1x64xf32>
    %39 = "llm.weight"() {handle = #pimc.weight<"model.layers.0.post_attention_layernorm.weight">} : () -> tensor<64xf32>
    %40 = "llm.rmsnorm"(%38, %39) {eps = 1e-06} : (tensor<Bx1x64xf32>, tensor<64xf32>) -> tensor<Bx1x64xf32>
    %41 = "llm.weight"() {handle = #pimc.weight<"model.layers.0.mlp.gate_proj.weight">} : () -> tensor<128x64xf32>
    %42 = "llm.linear"(%40, %41) : (tensor<Bx1x64xf32>, tensor<128x64xf32>) -> tensor<Bx1x128xf32>
    %43 = "llm.silu"(%42) : (tensor<Bx1x128xf32>) -> tensor<Bx1x128xf32>
    %44 = "llm.weight"() {handle = #pimc.weight<"model.layers.0.mlp.up_proj.weight">} : () -> tensor<128x64xf32>
    %45 = "llm.linear"(%40, %44) : (tensor<Bx1x64xf32>, tensor<128x64xf32>) -> tensor<Bx1x128xf32>
    %46 = "llm.mul"(%43, %45) : (tensor<Bx1x128xf32>, tensor<Bx1x128xf32>) -> tensor<Bx1x128xf32>
    %47 = "llm.weight"() {handle = #pimc.weight<"model.layers.0.mlp.down_proj.weight">} : () -> tensor<64x128xf32>
    %48 = "llm.linear"(%46, %47) : (tensor<Bx1x128xf32>, tensor<64x128xf32>) -> tensor<Bx1x64xf32>
    %49 = "llm.add"(%38, %48) : (tensor<Bx1x64xf32>, tensor<Bx1x64xf32>) -> tensor<Bx1x64xf32>
    %50 = "llm.weight"() {handle = #pimc.weight<"model.layers.1.input_layernorm.weight">} : () -> tensor<64xf32>
    %51 = "llm.rmsnorm"(%49, %50) {eps = 1e-06} : (tensor<Bx1x64xf32>, tensor<64xf32>) -> tensor<Bx1x64xf32>
    %52 = "llm.weight"() {handle = #pimc.weight<"model.layers.1.self_attn.q_proj.weight">} : () -> tensor<64x64xf32>
    %53 = "llm.linear"(%51, %52) : (tensor<Bx1x64xf32>, tensor<64x64xf32>) -> tensor<Bx1x64xf32>
    %54 = "llm.reshape"(%53) : (tensor<Bx1x64xf32>) -> tensor<Bx1x4x16xf32>
    %55 = "llm.transpose"(%54) {perm = [0, 2, 1, 3]} : (tensor<Bx1x4x16xf32>) -> tensor<Bx4x1x16xf32>
    %56 = "llm.weight"() {handle = #pimc.weight<"model.layers.1.self_attn.k_proj.weight">} : () -> tensor<32x64xf32>
    %57 = "llm.linear"(%51, %56) : (tensor<Bx1x64xf32>, tensor<32x64xf32>) -> tensor<Bx1x32xf32>
    %58 = "llm.reshape"(%57) : (tensor<Bx1x32xf32>) -> tensor<Bx1x2x16xf32>
    %59 = "llm.transpose"(%58) {perm = [0, 2, 1, 3]} : (tensor<Bx1x2x16xf32>) -> tensor<Bx2x1x16xf32>
    %60 = "llm.weight"() {handle = #pimc.weight<"model.layers.1.self_attn.v_proj.weight">} : () -> tensor<32x64xf32>
    %61 = "llm.linear"(%51, %60) : (tensor<Bx1x64xf32>, tensor<32x64xf32>) -> tensor<Bx1x32xf32>
    %62 = "llm.reshape"(%61) : (tensor<Bx1x32xf32>) -> tensor<Bx1x2x16xf32>
    %63 = "llm.transpose"(%62) {perm = [0, 2, 1, 3]} : (tensor<Bx1x2x16xf32>) -> tensor<Bx2x1x16xf32>
    %64 = "llm.rope"(%55, %26, %27) {style = "half"} : (tensor<Bx4x1x16xf32>, tensor<Bx1x1x16xf32>, tensor<Bx1x1x16xf32>) -> tensor<Bx4x1x16xf32>
    %65 = "llm.rope"(%59, %26, %27) {style = "half"} : (tensor<Bx2x1x16xf32>, tensor<Bx1x1x16xf32>, tensor<Bx1x1x16xf32>) -> tensor<Bx2x1x16xf32>
    %66 = "llm.concat"(%past_keys_1, %65) {axis = 2} : (tensor<Bx2xSx16xf32>, tensor<Bx2x1x16xf32>) -> tensor<Bx2x(S+1)x16xf32>
    %67 = "llm.concat"(%past_values_1, %63) {axis = 2} : (tensor<Bx2xSx16xf32>, tensor<Bx2x1x16xf32>) -> tensor<Bx2x(S+1)x16xf32>
    %68 = "llm.attention"(%64, %66, %67) {causal = false, scale = 0.25} : (tensor<Bx4x1x16xf32>, tensor<Bx2x(S+1)x16xf32>, tensor<Bx2x(S+1)x16xf32>) -> tensor<Bx4x1x16xf32>
    %69 = "llm.transpose"(%68) {perm = [0, 2, 1, 3]} : (tensor<Bx4x1x16xf32>) -> tensor<Bx1x4x16xf32>
    %70 = "llm.weight"() {handle = #pimc.weight<"model.layers.1.self_attn.o_proj.weight">} : () -> tensor<64x64xf32>
    %71 = "llm.reshape"(%69) : (tensor<Bx1x4x16xf32>) -> tensor<Bx64xf32>
    %72 = "llm.linear"(%71, %70) : (tensor<Bx64xf32>, tensor<64x64xf32>) -> tensor<Bx64xf32>
    %73 = "llm.reshape"(%72) : (tensor<Bx64xf32>) -> tensor<Bx1x64xf32>
    %74 = "llm.add"(%49, %73) : (tensor<Bx1x64xf32>, tensor<Bx1x64xf32>) -> tensor<Bx1x64xf32>
    %75 = "llm.weight"() {handle = #pimc.weight<"model.layers.1.post_attention_layernorm.weight">} : () -> tensor<64xf32>
    %76 = "llm.rmsnorm"(%74, %75) {eps = 1e-06} : (tensor<Bx1x64xf32>, tensor<64xf32>) -> tensor<Bx1x64xf32>
    %77 = "llm.weight"() {handle = #pimc.weight<"model.layers.1.mlp.gate_proj.weight">} : () -> tensor<128x64xf32>
    %78 = "llm.linear"(%76, %77) : (tensor<Bx1x64xf32>, tensor<128x64xf32>) -> tensor<Bx1x128xf32>
    %79 = "llm.silu"(%78) : (tensor<Bx1x128xf32>) -> tensor<Bx1x128xf32>
    %80 = "llm.weight"() {handle = #pimc.weight<"model.layers.1.mlp.up_proj.weight">} : () -> tensor<128x64xf32>
    %81 = "llm.linear"(%76, %80) : (tensor<Bx1x64xf32>, tensor<128x64xf32>) -> tensor<Bx1x128xf32>
    %82 = "llm.mul"(%79, %81) : (tensor<Bx1x128xf32>, tensor<Bx1x128xf32>) -> tensor<Bx1x128xf32>
    %83 = "llm.weight"() {handle = #pimc.weight<"model.layers.1.mlp.down_proj.weight">} : () -> tensor<64x128xf32>
    %84 = "llm.linear"(%82, %83) : (tensor<Bx1x128xf32>, tensor<64x128xf32>) -> tensor<Bx1x64xf32>
    %85 = "llm.add"(%74, %84) : (tensor<Bx1x64xf32>, tensor<Bx1x64xf32>) -> tensor<Bx1x64xf32>
    %86 = "llm.weight"() {handle = #pimc.weight<"model.norm.weight">} : () -> tensor<64xf32>
    %87 = "llm.rmsnorm"(%85, %86) {eps = 1e-06} : (tensor<Bx1x64xf32>, tensor<64xf32>) -> tensor<Bx1x64xf32>
    %88 = "llm.weight"() {handle = #pimc.weight<"lm_head.weight">} : () -> tensor<256x64xf32>
    %89 = "llm.linear"(%87, %88) : (tensor<Bx1x64xf32>, tensor<256x64xf32>) -> tensor<Bx1x256xf32>
    func.return %89, %30, %66, %31, %67 : tensor<Bx1x256xf32>, tensor<Bx2x(S+1)x16xf32>, tensor<Bx2x(S+1)x16xf32>, tensor<Bx2x(S+1)x16xf32>, tensor<Bx2x(S+1)x16xf32>
  }
}
