// Every parse error of pimc/ir/parser.py, with the type and dim syntax errors it reports: one
// case per chunk, each checked at its exact file:line:col, some with the source line and caret.
// RUN: not pimc opt --split-input-file %s 2>&1 | filecheck --strict-whitespace %s

// CHECK: {{^}}pimc: error: {{.*}}parse_errors.mlir:9:19: use of undefined SSA value %missing{{$}}
// CHECK-NEXT: {{^}}  %y = "llm.silu"(%missing) : (tensor<Bx4xf32>) -> tensor<Bx4xf32>
// CHECK-NEXT: {{^}}                  ^{{$}}
func.func @undefined(%x: tensor<Bx4xf32>) -> tensor<Bx4xf32> {
  %y = "llm.silu"(%missing) : (tensor<Bx4xf32>) -> tensor<Bx4xf32>
  func.return %y : tensor<Bx4xf32>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}parse_errors.mlir:15:15: use of undefined SSA value %ghost{{$}}
func.func @undefined_in_return(%x: tensor<Bx4xf32>) -> tensor<Bx4xf32> {
  func.return %ghost : tensor<Bx4xf32>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}parse_errors.mlir:20:18: use of undefined SSA value %later{{$}}
func.func @use_before_def(%x: tensor<Bx4xf32>) -> tensor<Bx4xf32> {
  %a = "llm.exp"(%later) : (tensor<Bx4xf32>) -> tensor<Bx4xf32>
  %later = "llm.silu"(%x) : (tensor<Bx4xf32>) -> tensor<Bx4xf32>
  func.return %a : tensor<Bx4xf32>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}parse_errors.mlir:31:15: use of undefined SSA value %inner{{$}}
func.func @not_across_functions(%x: tensor<4xf32>) -> tensor<4xf32> {
  %inner = "llm.silu"(%x) : (tensor<4xf32>) -> tensor<4xf32>
  func.return %inner : tensor<4xf32>
}
func.func @other(%y: tensor<4xf32>) -> tensor<4xf32> {
  func.return %inner : tensor<4xf32>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}parse_errors.mlir:39:3: redefinition of SSA value %a{{$}}
// CHECK-NEXT: {{^}}  %a = "llm.exp"(%x) : (tensor<Bx4xf32>) -> tensor<Bx4xf32>
// CHECK-NEXT: {{^}}  ^{{$}}
func.func @redefined(%x: tensor<Bx4xf32>) -> tensor<Bx4xf32> {
  %a = "llm.silu"(%x) : (tensor<Bx4xf32>) -> tensor<Bx4xf32>
  %a = "llm.exp"(%x) : (tensor<Bx4xf32>) -> tensor<Bx4xf32>
  func.return %a : tensor<Bx4xf32>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}parse_errors.mlir:44:68: redefinition of SSA value %q{{$}}
func.func @redefined_arg(%q: tensor<Bx4xf32>, %k: tensor<Bx8xf32>, %q: tensor<Bx4xf32>) {
  func.return
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}parse_errors.mlir:50:7: redefinition of SSA value %v{{$}}
func.func @redefined_second_result(%x: tensor<Bx64xf32>) {
  %v, %v = "llm.topk"(%x) {k = 4} : (tensor<Bx64xf32>) -> (tensor<Bx4xf32>, tensor<Bx4xi64>)
  func.return
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}parse_errors.mlir:58:22: %y has type tensor<Bx(S+1)xf32>, but the op's type says tensor<BxSxf32>{{$}}
// CHECK-NEXT: {{^}}  %s = "llm.add"(%x, %y) : (tensor<Bx(S+1)xf32>, tensor<BxSxf32>) -> tensor<Bx(S+1)xf32>
// CHECK-NEXT: {{^}}                     ^{{$}}
func.func @operand_type(%x: tensor<Bx(S+1)xf32>, %y: tensor<Bx(S+1)xf32>) -> tensor<Bx(S+1)xf32> {
  %s = "llm.add"(%x, %y) : (tensor<Bx(S+1)xf32>, tensor<BxSxf32>) -> tensor<Bx(S+1)xf32>
  func.return %s : tensor<Bx(S+1)xf32>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}parse_errors.mlir:64:19: %x has type tensor<(2*B)x4xf16>, but the op's type says tensor<(2*B)x4xbf16>{{$}}
func.func @operand_element_type(%x: tensor<(2*B)x4xf16>) -> tensor<(2*B)x4xf16> {
  %s = "llm.silu"(%x) : (tensor<(2*B)x4xbf16>) -> tensor<(2*B)x4xf16>
  func.return %s : tensor<(2*B)x4xf16>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}parse_errors.mlir:70:8: 'llm.add' has 2 operand(s) but its type lists 3{{$}}
func.func @operand_count(%x: tensor<4xf32>, %y: tensor<4xf32>) -> tensor<4xf32> {
  %s = "llm.add"(%x, %y) : (tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  func.return %s : tensor<4xf32>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}parse_errors.mlir:76:3: 'llm.topk' names 1 result(s) but its type lists 2{{$}}
func.func @result_names(%x: tensor<Bx64xf32>) {
  %v = "llm.topk"(%x) {k = 4} : (tensor<Bx64xf32>) -> (tensor<Bx4xf32>, tensor<Bx4xi64>)
  func.return
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}parse_errors.mlir:82:3: 'llm.relu' names 0 result(s) but its type lists 1{{$}}
func.func @result_names_unnamed(%x: tensor<Bx64xf32>) {
  "llm.relu"(%x) : (tensor<Bx64xf32>) -> tensor<Bx64xf32>
  func.return
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}parse_errors.mlir:90:3: func.return has 2 value(s) but 1 type(s){{$}}
// CHECK-NEXT: {{^}}  func.return %x, %y : tensor<Bx4xf32>
// CHECK-NEXT: {{^}}  ^{{$}}
func.func @return_count(%x: tensor<Bx4xf32>, %y: tensor<Bx4xf32>) -> tensor<Bx4xf32> {
  func.return %x, %y : tensor<Bx4xf32>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}parse_errors.mlir:95:3: func.return: %x has type tensor<Bx(S//2)xf16>, not tensor<Bx(S+2)xf16>{{$}}
func.func @return_type(%x: tensor<Bx(S//2)xf16>) -> tensor<Bx(S//2)xf16> {
  func.return %x : tensor<Bx(S+2)xf16>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}parse_errors.mlir:101:1: attribute 'sym_name' is implied by the func.func syntax{{$}}
// CHECK-NEXT: {{^}}func.func @sym_name_attr(%x: tensor<4xf32>) attributes {sym_name = "g"} {
// CHECK-NEXT: {{^}}^{{$}}
func.func @sym_name_attr(%x: tensor<4xf32>) attributes {sym_name = "g"} {
  func.return
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}parse_errors.mlir:106:1: attribute 'function_type' is implied by the func.func syntax{{$}}
func.func @function_type_attr() attributes {pimc.note = "x", function_type = i32} {
  func.return
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}parse_errors.mlir:111:1: attribute 'arg_attrs' is implied by the func.func syntax{{$}}
func.func @arg_attrs_attr(%x: tensor<4xf32> {pimc.a}) attributes {arg_attrs = [{pimc.b}]} {
  func.return
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}parse_errors.mlir:119:8: unknown op 'llm.sigmiod' (did you mean 'llm.sigmoid'?); valid: llm.add, {{(llm\.[a-z_]+, )+}}llm.{{[a-z_]+$}}
// CHECK-NEXT: {{^}}  %y = "llm.sigmiod"(%x) : (tensor<4xf32>) -> tensor<4xf32>
// CHECK-NEXT: {{^}}       ^{{$}}
func.func @unknown_op(%x: tensor<4xf32>) -> tensor<4xf32> {
  %y = "llm.sigmiod"(%x) : (tensor<4xf32>) -> tensor<4xf32>
  func.return %y : tensor<4xf32>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}parse_errors.mlir:125:8: unknown op 'llm.zzzzzz'; valid: llm.add, {{(llm\.[a-z_]+, )+}}llm.{{[a-z_]+$}}
func.func @unknown_op_no_close_match(%x: tensor<4xf32>) -> tensor<4xf32> {
  %y = "llm.zzzzzz"(%x) : (tensor<4xf32>) -> tensor<4xf32>
  func.return %y : tensor<4xf32>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}parse_errors.mlir:131:8: op 'lmm.silu': unknown dialect 'lmm' (did you mean 'llm'?); valid: builtin, func, kv, llm, npu, pim{{$}}
func.func @unknown_dialect(%x: tensor<4xf32>) -> tensor<4xf32> {
  %y = "lmm.silu"(%x) : (tensor<4xf32>) -> tensor<4xf32>
  func.return %y : tensor<4xf32>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}parse_errors.mlir:137:3: 'func.return' must be written in its custom form{{$}}
func.func @custom_form_only(%x: tensor<4xf32>) {
  "func.return"(%x) : (tensor<4xf32>) -> ()
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}parse_errors.mlir:142:3: 'builtin.module' must be written in its custom form{{$}}
func.func @custom_form_module() {
  "builtin.module"() : () -> ()
  func.return
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}parse_errors.mlir:150:33: unknown dialect attribute '#pimc.devise'; valid: #pimc.device, #pimc.expr, #pimc.sym, #pimc.weight{{$}}
// CHECK-NEXT: {{^}}  %y = "llm.silu"(%x) {device = #pimc.devise<"pim">} : (tensor<4xf32>) -> tensor<4xf32>
// CHECK-NEXT: {{^}}                                ^{{$}}
func.func @unknown_dialect_attr(%x: tensor<4xf32>) -> tensor<4xf32> {
  %y = "llm.silu"(%x) {device = #pimc.devise<"pim">} : (tensor<4xf32>) -> tensor<4xf32>
  func.return %y : tensor<4xf32>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}parse_errors.mlir:156:33: #pimc.device takes one string, one of npu, xpu, pim, logic_pim, host{{$}}
func.func @device_param_kind(%x: tensor<4xf32>) -> tensor<4xf32> {
  %y = "llm.silu"(%x) {device = #pimc.device<3>} : (tensor<4xf32>) -> tensor<4xf32>
  func.return %y : tensor<4xf32>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}parse_errors.mlir:162:33: unknown device 'gpu'; valid: npu, xpu, pim, logic_pim, host{{$}}
func.func @unknown_device(%x: tensor<4xf32>) -> tensor<4xf32> {
  %y = "llm.silu"(%x) {device = #pimc.device<"gpu">} : (tensor<4xf32>) -> tensor<4xf32>
  func.return %y : tensor<4xf32>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}parse_errors.mlir:168:33: #pimc.weight takes one string, the weight's name in the store ("model.embed.weight"){{$}}
func.func @weight_param_count() -> tensor<4xf32> {
  %w = "llm.weight"() {handle = #pimc.weight<"a", "b">} : () -> tensor<4xf32>
  func.return %w : tensor<4xf32>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}parse_errors.mlir:174:52: #pimc.sym takes one string holding a dim expression ("S+1", "2*B*S"){{$}}
func.func @sym_param_kind(%x: tensor<Sx4xf32>) -> tensor<Sx4xf32> {
  %y = "llm.slice"(%x) {axis = 0, start = 0, end = #pimc.sym<7>} : (tensor<Sx4xf32>) -> tensor<Sx4xf32>
  func.return %y : tensor<Sx4xf32>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}parse_errors.mlir:180:52: unexpected ')' in dim expression '(S+)'{{$}}
func.func @sym_bad_expr(%x: tensor<Sx4xf32>) -> tensor<Sx4xf32> {
  %y = "llm.slice"(%x) {axis = 0, start = 0, end = #pimc.sym<"S+">} : (tensor<Sx4xf32>) -> tensor<Sx4xf32>
  func.return %y : tensor<Sx4xf32>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}parse_errors.mlir:188:53: duplicate attribute 'axis'{{$}}
// CHECK-NEXT: {{^}}  %y = "llm.softmax"(%x) {axis = 1, pimc.tag = "t", axis = 2} : (tensor<BxSx4xf32>) -> tensor<BxSx4xf32>
// CHECK-NEXT: {{^}}                                                    ^{{$}}
func.func @duplicate_attr(%x: tensor<BxSx4xf32>) -> tensor<BxSx4xf32> {
  %y = "llm.softmax"(%x) {axis = 1, pimc.tag = "t", axis = 2} : (tensor<BxSx4xf32>) -> tensor<BxSx4xf32>
  func.return %y : tensor<BxSx4xf32>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}parse_errors.mlir:193:60: duplicate attribute 'pimc.k'{{$}}
func.func @duplicate_quoted_attr() attributes {pimc.k = 1, "pimc.k" = 2} {
  func.return
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}parse_errors.mlir:198:69: duplicate attribute 'inner'{{$}}
func.func @duplicate_nested_attr() attributes {pimc.d = {inner = 1, inner = 2}} {
  func.return
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}parse_errors.mlir:205:40: unknown element type 'f8' in 'tensor<Bx4xf8>'; valid: f16, bf16, f32, f64, i1, i2, i4, i8, i16, i32, i64{{$}}
// CHECK-NEXT: {{^}}func.func @element_type(%x: tensor<Bx4xf8>) {
// CHECK-NEXT: {{^}}                                       ^{{$}}
func.func @element_type(%x: tensor<Bx4xf8>) {
  func.return
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}parse_errors.mlir:213:57: unknown element type 'fp32' in 'tensor<Bx4xfp32>'; valid: f16, bf16, f32, f64, i1, i2, i4, i8, i16, i32, i64{{$}}
// CHECK-NEXT: {{^}}  %y = "llm.silu"(%x) : (tensor<Bx4xf32>) -> tensor<Bx4xfp32>
// CHECK-NEXT: {{^}}                                                        ^{{$}}
func.func @element_type_in_signature(%x: tensor<Bx4xf32>) -> tensor<Bx4xf32> {
  %y = "llm.silu"(%x) : (tensor<Bx4xf32>) -> tensor<Bx4xfp32>
  func.return %y : tensor<Bx4xf32>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}parse_errors.mlir:222:17: invalid dim 'b': expected an integer, an upper-case symbol (B, S) or a parenthesised expression like (S+1){{$}}
// CHECK-NEXT: {{^}}      -> tensor<bx4xf32>
// CHECK-NEXT: {{^}}                ^{{$}}
func.func @dim_in_multiline_signature(%x: tensor<Bx4xf32>) -> tensor<Bx4xf32> {
  %y = "llm.silu"(%x) : (tensor<Bx4xf32>)
      -> tensor<bx4xf32>
  func.return %y : tensor<Bx4xf32>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}parse_errors.mlir:229:40: invalid dim 'seq': expected an integer, an upper-case symbol (B, S) or a parenthesised expression like (S+1){{$}}
// CHECK-NEXT: {{^}}func.func @dim_lower_case(%x: tensor<Bxseqx4xf32>) {
// CHECK-NEXT: {{^}}                                       ^{{$}}
func.func @dim_lower_case(%x: tensor<Bxseqx4xf32>) {
  func.return
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}parse_errors.mlir:236:45: unexpected character '%' in dim expression '(S%2)' (allowed: integers, symbols, + - * // and parentheses){{$}}
// CHECK-NEXT: {{^}}func.func @dim_bad_character(%x: tensor<Bx(S%2)xf32>) {
// CHECK-NEXT: {{^}}                                            ^{{$}}
func.func @dim_bad_character(%x: tensor<Bx(S%2)xf32>) {
  func.return
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}parse_errors.mlir:241:49: unexpected '*' in dim expression '(S+*2)'{{$}}
func.func @dim_unexpected_token(%x: tensor<Bx(S+*2)xf32>) {
  func.return
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}parse_errors.mlir:248:49: unexpected 'S' in dim expression '(2 S)'{{$}}
// CHECK-NEXT: {{^}}func.func @dim_missing_operator(%x: tensor<Bx(2 S)xf32>) {
// CHECK-NEXT: {{^}}                                                ^{{$}}
func.func @dim_missing_operator(%x: tensor<Bx(2 S)xf32>) {
  func.return
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}parse_errors.mlir:254:52: missing ')' in dim expression '((S)'{{$}}
func.func @dim_missing_paren(%x: tensor<Sx4xf32>) -> tensor<Sx4xf32> {
  %y = "llm.slice"(%x) {axis = 0, start = 0, end = #pimc.sym<"(S">} : (tensor<Sx4xf32>) -> tensor<Sx4xf32>
  func.return %y : tensor<Sx4xf32>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}parse_errors.mlir:261:50: division by zero in dim expression '(S//(B-B))'{{$}}
// CHECK-NEXT: {{^}}func.func @dim_division_by_zero(%x: tensor<Bx(S//(B-B))xf32>) {
// CHECK-NEXT: {{^}}                                                 ^{{$}}
func.func @dim_division_by_zero(%x: tensor<Bx(S//(B-B))xf32>) {
  func.return
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}parse_errors.mlir:268:38: dim '(S-S-3)' in 'tensor<Bx(S-S-3)xf32>' is negative{{$}}
// CHECK-NEXT: {{^}}func.func @dim_negative(%x: tensor<Bx(S-S-3)xf32>) {
// CHECK-NEXT: {{^}}                                     ^{{$}}
func.func @dim_negative(%x: tensor<Bx(S-S-3)xf32>) {
  func.return
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}parse_errors.mlir:273:45: dim '(-2*T)' in 'tensor<(-2*T)x8xf32>' is negative{{$}}
func.func @dim_negative_symbolic(%x: tensor<(-2*T)x8xf32>) {
  func.return
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}parse_errors.mlir:280:55: invalid string literal: Invalid \escape (strings use JSON escapes){{$}}
// CHECK-NEXT: {{^}}func.func @string_escape() attributes {pimc.note = "C:\path"} {
// CHECK-NEXT: {{^}}                                                      ^{{$}}
func.func @string_escape() attributes {pimc.note = "C:\path"} {
  func.return
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}parse_errors.mlir:286:28: invalid string literal: Invalid \escape (strings use JSON escapes){{$}}
func.func @string_in_location() {
  func.return loc("f.py"("g\x.py":1:2))
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}parse_errors.mlir:293:23: unexpected '->'; expected one of '(', ':', '{', a type signature (: (T, ...) -> T){{$}}
// CHECK-NEXT: {{^}}  %y = "llm.silu"(%x) -> tensor<4xf32>
// CHECK-NEXT: {{^}}                      ^{{$}}
func.func @syntax_token(%x: tensor<4xf32>) -> tensor<4xf32> {
  %y = "llm.silu"(%x) -> tensor<4xf32>
  func.return %y : tensor<4xf32>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}parse_errors.mlir:301:15: unexpected '?'; expected one of 'func.return', 'loc', '}', a location (loc(...)), a string ("..."), an SSA value (%name){{$}}
// CHECK-NEXT: {{^}}  func.return ?
// CHECK-NEXT: {{^}}              ^{{$}}
func.func @syntax_character(%x: tensor<4xf32>) {
  func.return ?
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}parse_errors.mlir:308:11: unexpected 'noat'; expected a symbol (@name){{$}}
func.func @syntax_missing_symbol(%x: tensor<4xf32>) {
  func.return
}
func.func noat() {
  func.return
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}parse_errors.mlir:314:33: unexpected '}'; expected one of '[', 'false', 'true', 'unit', '{', a dialect attribute (#pimc.device), a dialect type (!kv.cache), a float, a string ("..."), a symbol (@name), a tensor type, an element type (f16, i64, ...), an integer{{$}}
func.func @syntax_attr_value(%x: tensor<4xf32>) -> tensor<4xf32> {
  %y = "llm.silu"(%x) {pimc.a = } : (tensor<4xf32>) -> tensor<4xf32>
  func.return %y : tensor<4xf32>
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}parse_errors.mlir:320:19: unexpected '12'; expected a string ("..."){{$}}
func.func @syntax_location(%x: tensor<4xf32>) {
  func.return loc(12)
}
// -----
// CHECK: {{^}}pimc: error: {{.*}}parse_errors.mlir:328:1: unexpected end of input; expected one of 'func.func', '}'{{$}}
builtin.module {
  func.func @syntax_end_of_input(%x: tensor<4xf32>) {
    func.return
  }
