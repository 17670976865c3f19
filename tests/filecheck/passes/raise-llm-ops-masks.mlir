// raise-llm-ops: attention masks recognised by what they compute (pimc/passes/raise_masks.py):
// the mask operand's ops are evaluated on probe shapes and paddings and compared with causal,
// window and key-padding spellings; near-misses stay as they are.
// RUN: pimc opt %s -p raise-llm-ops | filecheck --match-full-lines %s

builtin.module {
  // optimum's spelling of HF's mask (after canonicalize): key padding gathered from the
  // flattened attention_mask, a causal comparison, where(ok, 0, -inf). It computes causal + key
  // padding, so it becomes the flag and attention_mask as a [B, 1, 1, S] boolean mask.
  // CHECK-LABEL: func.func @padding_causal(%q: tensor<Bx4xTx8xf32>, %k: tensor<Bx2x(S+T)x8xf32>, %v: tensor<Bx2x(S+T)x8xf32>, %attention_mask: tensor<Bx(S+T)xi64>) -> tensor<Bx4xTx8xf32> {
  // CHECK-NEXT: %0 = "llm.cast"(%attention_mask) : (tensor<Bx(S+T)xi64>) -> tensor<Bx(S+T)xi1>
  // CHECK-NEXT: %1 = "llm.reshape"(%0) : (tensor<Bx(S+T)xi1>) -> tensor<Bx1x1x(S+T)xi1>
  // CHECK-NEXT: %2 = "llm.attention"(%q, %k, %v, %1) {causal = true, scale = 0.35355339} : (tensor<Bx4xTx8xf32>, tensor<Bx2x(S+T)x8xf32>, tensor<Bx2x(S+T)x8xf32>, tensor<Bx1x1x(S+T)xi1>) -> tensor<Bx4xTx8xf32>
  // CHECK-NEXT: func.return %2 : tensor<Bx4xTx8xf32>
  // CHECK-NEXT: }
  func.func @padding_causal(%q: tensor<Bx4xTx8xf32>, %k: tensor<Bx2x(S+T)x8xf32>, %v: tensor<Bx2x(S+T)x8xf32>, %attention_mask: tensor<Bx(S+T)xi64>) -> tensor<Bx4xTx8xf32> {
    %pad = "llm.cast"(%attention_mask) : (tensor<Bx(S+T)xi64>) -> tensor<Bx(S+T)xi1>
    %flat = "llm.reshape"(%pad) : (tensor<Bx(S+T)xi1>) -> tensor<(B*(S+T))x1xi1>
    %keys = "llm.arange"() {start = 0, step = 1} : () -> tensor<(S+T)xi64>
    %kcol = "llm.reshape"(%keys) : (tensor<(S+T)xi64>) -> tensor<1x1x1x(S+T)xi64>
    %rows = "llm.arange"() {start = 0, step = 1} : () -> tensor<Bxi64>
    %rcol = "llm.reshape"(%rows) : (tensor<Bxi64>) -> tensor<Bx1x1x1xi64>
    %len = "llm.arange"() {start = #pimc.sym<"S+T">, step = 1} : () -> tensor<1xi64>
    %base = "llm.mul"(%rcol, %len) : (tensor<Bx1x1x1xi64>, tensor<1xi64>) -> tensor<Bx1x1x1xi64>
    %idx = "llm.add"(%kcol, %base) : (tensor<1x1x1x(S+T)xi64>, tensor<Bx1x1x1xi64>) -> tensor<Bx1x1x(S+T)xi64>
    %g = "llm.take"(%flat, %idx) {axis = 0} : (tensor<(B*(S+T))x1xi1>, tensor<Bx1x1x(S+T)xi64>) -> tensor<Bx1x1x(S+T)x1xi1>
    %real = "llm.reshape"(%g) : (tensor<Bx1x1x(S+T)x1xi1>) -> tensor<Bx1x1x(S+T)xi1>
    %pos = "llm.arange"() {start = #pimc.sym<"S">, step = 1} : () -> tensor<Txi64>
    %qpos = "llm.reshape"(%pos) : (tensor<Txi64>) -> tensor<1x1xTx1xi64>
    %seen = "llm.compare"(%kcol, %qpos) {predicate = "le"} : (tensor<1x1x1x(S+T)xi64>, tensor<1x1xTx1xi64>) -> tensor<1x1xTx(S+T)xi1>
    %ok = "llm.logical"(%seen, %real) {op = "and"} : (tensor<1x1xTx(S+T)xi1>, tensor<Bx1x1x(S+T)xi1>) -> tensor<Bx1xTx(S+T)xi1>
    %zero = "llm.constant"() {value = 0.0} : () -> tensor<1xf32>
    %ninf = "llm.constant"() {value = -inf} : () -> tensor<1xf32>
    %mask = "llm.where"(%ok, %zero, %ninf) : (tensor<Bx1xTx(S+T)xi1>, tensor<1xf32>, tensor<1xf32>) -> tensor<Bx1xTx(S+T)xf32>
    %o = "llm.attention"(%q, %k, %v, %mask) {causal = false, scale = 0.35355339} : (tensor<Bx4xTx8xf32>, tensor<Bx2x(S+T)x8xf32>, tensor<Bx2x(S+T)x8xf32>, tensor<Bx1xTx(S+T)xf32>) -> tensor<Bx4xTx8xf32>
    func.return %o : tensor<Bx4xTx8xf32>
  }
  // The same with a sliding window (key > position - 4): window = 4.
  // CHECK-LABEL: func.func @padding_causal_window(%q: tensor<Bx4xTx8xf32>, %k: tensor<Bx2x(S+T)x8xf32>, %v: tensor<Bx2x(S+T)x8xf32>, %attention_mask: tensor<Bx(S+T)xi64>) -> tensor<Bx4xTx8xf32> {
  // CHECK-NEXT: %0 = "llm.cast"(%attention_mask) : (tensor<Bx(S+T)xi64>) -> tensor<Bx(S+T)xi1>
  // CHECK-NEXT: %1 = "llm.reshape"(%0) : (tensor<Bx(S+T)xi1>) -> tensor<Bx1x1x(S+T)xi1>
  // CHECK-NEXT: %2 = "llm.attention"(%q, %k, %v, %1) {causal = true, scale = 0.35355339, window = 4} : (tensor<Bx4xTx8xf32>, tensor<Bx2x(S+T)x8xf32>, tensor<Bx2x(S+T)x8xf32>, tensor<Bx1x1x(S+T)xi1>) -> tensor<Bx4xTx8xf32>
  // CHECK-NEXT: func.return %2 : tensor<Bx4xTx8xf32>
  // CHECK-NEXT: }
  func.func @padding_causal_window(%q: tensor<Bx4xTx8xf32>, %k: tensor<Bx2x(S+T)x8xf32>, %v: tensor<Bx2x(S+T)x8xf32>, %attention_mask: tensor<Bx(S+T)xi64>) -> tensor<Bx4xTx8xf32> {
    %pad = "llm.cast"(%attention_mask) : (tensor<Bx(S+T)xi64>) -> tensor<Bx(S+T)xi1>
    %flat = "llm.reshape"(%pad) : (tensor<Bx(S+T)xi1>) -> tensor<(B*(S+T))x1xi1>
    %keys = "llm.arange"() {start = 0, step = 1} : () -> tensor<(S+T)xi64>
    %kcol = "llm.reshape"(%keys) : (tensor<(S+T)xi64>) -> tensor<1x1x1x(S+T)xi64>
    %rows = "llm.arange"() {start = 0, step = 1} : () -> tensor<Bxi64>
    %rcol = "llm.reshape"(%rows) : (tensor<Bxi64>) -> tensor<Bx1x1x1xi64>
    %len = "llm.arange"() {start = #pimc.sym<"S+T">, step = 1} : () -> tensor<1xi64>
    %base = "llm.mul"(%rcol, %len) : (tensor<Bx1x1x1xi64>, tensor<1xi64>) -> tensor<Bx1x1x1xi64>
    %idx = "llm.add"(%kcol, %base) : (tensor<1x1x1x(S+T)xi64>, tensor<Bx1x1x1xi64>) -> tensor<Bx1x1x(S+T)xi64>
    %g = "llm.take"(%flat, %idx) {axis = 0} : (tensor<(B*(S+T))x1xi1>, tensor<Bx1x1x(S+T)xi64>) -> tensor<Bx1x1x(S+T)x1xi1>
    %real = "llm.reshape"(%g) : (tensor<Bx1x1x(S+T)x1xi1>) -> tensor<Bx1x1x(S+T)xi1>
    %pos = "llm.arange"() {start = #pimc.sym<"S">, step = 1} : () -> tensor<Txi64>
    %qpos = "llm.reshape"(%pos) : (tensor<Txi64>) -> tensor<1x1xTx1xi64>
    %seen = "llm.compare"(%kcol, %qpos) {predicate = "le"} : (tensor<1x1x1x(S+T)xi64>, tensor<1x1xTx1xi64>) -> tensor<1x1xTx(S+T)xi1>
    %four = "llm.constant"() {value = 4.0} : () -> tensor<i64>
    %lo = "llm.sub"(%qpos, %four) : (tensor<1x1xTx1xi64>, tensor<i64>) -> tensor<1x1xTx1xi64>
    %near = "llm.compare"(%kcol, %lo) {predicate = "gt"} : (tensor<1x1x1x(S+T)xi64>, tensor<1x1xTx1xi64>) -> tensor<1x1xTx(S+T)xi1>
    %band = "llm.logical"(%seen, %near) {op = "and"} : (tensor<1x1xTx(S+T)xi1>, tensor<1x1xTx(S+T)xi1>) -> tensor<1x1xTx(S+T)xi1>
    %ok = "llm.logical"(%band, %real) {op = "and"} : (tensor<1x1xTx(S+T)xi1>, tensor<Bx1x1x(S+T)xi1>) -> tensor<Bx1xTx(S+T)xi1>
    %zero = "llm.constant"() {value = 0.0} : () -> tensor<1xf32>
    %ninf = "llm.constant"() {value = -inf} : () -> tensor<1xf32>
    %mask = "llm.where"(%ok, %zero, %ninf) : (tensor<Bx1xTx(S+T)xi1>, tensor<1xf32>, tensor<1xf32>) -> tensor<Bx1xTx(S+T)xf32>
    %o = "llm.attention"(%q, %k, %v, %mask) {causal = false, scale = 0.35355339} : (tensor<Bx4xTx8xf32>, tensor<Bx2x(S+T)x8xf32>, tensor<Bx2x(S+T)x8xf32>, tensor<Bx1xTx(S+T)xf32>) -> tensor<Bx4xTx8xf32>
    func.return %o : tensor<Bx4xTx8xf32>
  }
  // A finite fill (finfo.min) with padding stays: a fully padded query row averages the values
  // where a boolean mask gives zeros.
  // CHECK-LABEL: func.func @finite_fill_with_padding(%q: tensor<Bx4xTx8xf32>, %k: tensor<Bx2x(S+T)x8xf32>, %v: tensor<Bx2x(S+T)x8xf32>, %attention_mask: tensor<Bx(S+T)xi64>) -> tensor<Bx4xTx8xf32> {
  // CHECK-NEXT: %pad = "llm.cast"(%attention_mask) : (tensor<Bx(S+T)xi64>) -> tensor<Bx(S+T)xi1>
  // CHECK-NEXT: %flat = "llm.reshape"(%pad) : (tensor<Bx(S+T)xi1>) -> tensor<(B*(S+T))x1xi1>
  // CHECK-NEXT: %keys = "llm.arange"() {start = 0, step = 1} : () -> tensor<(S+T)xi64>
  // CHECK-NEXT: %kcol = "llm.reshape"(%keys) : (tensor<(S+T)xi64>) -> tensor<1x1x1x(S+T)xi64>
  // CHECK-NEXT: %rows = "llm.arange"() {start = 0, step = 1} : () -> tensor<Bxi64>
  // CHECK-NEXT: %rcol = "llm.reshape"(%rows) : (tensor<Bxi64>) -> tensor<Bx1x1x1xi64>
  // CHECK-NEXT: %len = "llm.arange"() {start = #pimc.sym<"S+T">, step = 1} : () -> tensor<1xi64>
  // CHECK-NEXT: %base = "llm.mul"(%rcol, %len) : (tensor<Bx1x1x1xi64>, tensor<1xi64>) -> tensor<Bx1x1x1xi64>
  // CHECK-NEXT: %idx = "llm.add"(%kcol, %base) : (tensor<1x1x1x(S+T)xi64>, tensor<Bx1x1x1xi64>) -> tensor<Bx1x1x(S+T)xi64>
  // CHECK-NEXT: %g = "llm.take"(%flat, %idx) {axis = 0} : (tensor<(B*(S+T))x1xi1>, tensor<Bx1x1x(S+T)xi64>) -> tensor<Bx1x1x(S+T)x1xi1>
  // CHECK-NEXT: %real = "llm.reshape"(%g) : (tensor<Bx1x1x(S+T)x1xi1>) -> tensor<Bx1x1x(S+T)xi1>
  // CHECK-NEXT: %pos = "llm.arange"() {start = #pimc.sym<"S">, step = 1} : () -> tensor<Txi64>
  // CHECK-NEXT: %qpos = "llm.reshape"(%pos) : (tensor<Txi64>) -> tensor<1x1xTx1xi64>
  // CHECK-NEXT: %seen = "llm.compare"(%kcol, %qpos) {predicate = "le"} : (tensor<1x1x1x(S+T)xi64>, tensor<1x1xTx1xi64>) -> tensor<1x1xTx(S+T)xi1>
  // CHECK-NEXT: %ok = "llm.logical"(%seen, %real) {op = "and"} : (tensor<1x1xTx(S+T)xi1>, tensor<Bx1x1x(S+T)xi1>) -> tensor<Bx1xTx(S+T)xi1>
  // CHECK-NEXT: %zero = "llm.constant"() {value = 0.0} : () -> tensor<1xf32>
  // CHECK-NEXT: %ninf = "llm.constant"() {value = -3.4028234663852886e+38} : () -> tensor<1xf32>
  // CHECK-NEXT: %mask = "llm.where"(%ok, %zero, %ninf) : (tensor<Bx1xTx(S+T)xi1>, tensor<1xf32>, tensor<1xf32>) -> tensor<Bx1xTx(S+T)xf32>
  // CHECK-NEXT: %o = "llm.attention"(%q, %k, %v, %mask) {causal = false, scale = 0.35355339} : (tensor<Bx4xTx8xf32>, tensor<Bx2x(S+T)x8xf32>, tensor<Bx2x(S+T)x8xf32>, tensor<Bx1xTx(S+T)xf32>) -> tensor<Bx4xTx8xf32>
  // CHECK-NEXT: func.return %o : tensor<Bx4xTx8xf32>
  // CHECK-NEXT: }
  func.func @finite_fill_with_padding(%q: tensor<Bx4xTx8xf32>, %k: tensor<Bx2x(S+T)x8xf32>, %v: tensor<Bx2x(S+T)x8xf32>, %attention_mask: tensor<Bx(S+T)xi64>) -> tensor<Bx4xTx8xf32> {
    %pad = "llm.cast"(%attention_mask) : (tensor<Bx(S+T)xi64>) -> tensor<Bx(S+T)xi1>
    %flat = "llm.reshape"(%pad) : (tensor<Bx(S+T)xi1>) -> tensor<(B*(S+T))x1xi1>
    %keys = "llm.arange"() {start = 0, step = 1} : () -> tensor<(S+T)xi64>
    %kcol = "llm.reshape"(%keys) : (tensor<(S+T)xi64>) -> tensor<1x1x1x(S+T)xi64>
    %rows = "llm.arange"() {start = 0, step = 1} : () -> tensor<Bxi64>
    %rcol = "llm.reshape"(%rows) : (tensor<Bxi64>) -> tensor<Bx1x1x1xi64>
    %len = "llm.arange"() {start = #pimc.sym<"S+T">, step = 1} : () -> tensor<1xi64>
    %base = "llm.mul"(%rcol, %len) : (tensor<Bx1x1x1xi64>, tensor<1xi64>) -> tensor<Bx1x1x1xi64>
    %idx = "llm.add"(%kcol, %base) : (tensor<1x1x1x(S+T)xi64>, tensor<Bx1x1x1xi64>) -> tensor<Bx1x1x(S+T)xi64>
    %g = "llm.take"(%flat, %idx) {axis = 0} : (tensor<(B*(S+T))x1xi1>, tensor<Bx1x1x(S+T)xi64>) -> tensor<Bx1x1x(S+T)x1xi1>
    %real = "llm.reshape"(%g) : (tensor<Bx1x1x(S+T)x1xi1>) -> tensor<Bx1x1x(S+T)xi1>
    %pos = "llm.arange"() {start = #pimc.sym<"S">, step = 1} : () -> tensor<Txi64>
    %qpos = "llm.reshape"(%pos) : (tensor<Txi64>) -> tensor<1x1xTx1xi64>
    %seen = "llm.compare"(%kcol, %qpos) {predicate = "le"} : (tensor<1x1x1x(S+T)xi64>, tensor<1x1xTx1xi64>) -> tensor<1x1xTx(S+T)xi1>
    %ok = "llm.logical"(%seen, %real) {op = "and"} : (tensor<1x1xTx(S+T)xi1>, tensor<Bx1x1x(S+T)xi1>) -> tensor<Bx1xTx(S+T)xi1>
    %zero = "llm.constant"() {value = 0.0} : () -> tensor<1xf32>
    %ninf = "llm.constant"() {value = -3.4028234663852886e+38} : () -> tensor<1xf32>
    %mask = "llm.where"(%ok, %zero, %ninf) : (tensor<Bx1xTx(S+T)xi1>, tensor<1xf32>, tensor<1xf32>) -> tensor<Bx1xTx(S+T)xf32>
    %o = "llm.attention"(%q, %k, %v, %mask) {causal = false, scale = 0.35355339} : (tensor<Bx4xTx8xf32>, tensor<Bx2x(S+T)x8xf32>, tensor<Bx2x(S+T)x8xf32>, tensor<Bx1xTx(S+T)xf32>) -> tensor<Bx4xTx8xf32>
    func.return %o : tensor<Bx4xTx8xf32>
  }
  // A mask from dims alone (a packed-sequence-free dynamo graph), filled with finfo.min: every
  // query sees its own key, so the fill is as good as -inf and the mask is the causal flag.
  // CHECK-LABEL: func.func @causal_from_dims(%q: tensor<Bx4xTx8xf32>, %k: tensor<Bx2xTx8xf32>, %v: tensor<Bx2xTx8xf32>) -> tensor<Bx4xTx8xf32> {
  // CHECK-NEXT: %0 = "llm.attention"(%q, %k, %v) {causal = true, scale = 0.35355339} : (tensor<Bx4xTx8xf32>, tensor<Bx2xTx8xf32>, tensor<Bx2xTx8xf32>) -> tensor<Bx4xTx8xf32>
  // CHECK-NEXT: func.return %0 : tensor<Bx4xTx8xf32>
  // CHECK-NEXT: }
  func.func @causal_from_dims(%q: tensor<Bx4xTx8xf32>, %k: tensor<Bx2xTx8xf32>, %v: tensor<Bx2xTx8xf32>) -> tensor<Bx4xTx8xf32> {
    %keys = "llm.arange"() {start = 0, step = 1} : () -> tensor<Txi64>
    %kcol = "llm.reshape"(%keys) : (tensor<Txi64>) -> tensor<1xTxi64>
    %qpos = "llm.reshape"(%keys) : (tensor<Txi64>) -> tensor<Tx1xi64>
    %ok = "llm.compare"(%kcol, %qpos) {predicate = "le"} : (tensor<1xTxi64>, tensor<Tx1xi64>) -> tensor<TxTxi1>
    %zero = "llm.constant"() {value = 0.0} : () -> tensor<f32>
    %min = "llm.constant"() {value = -3.4028234663852886e+38} : () -> tensor<f32>
    %mask = "llm.where"(%ok, %zero, %min) : (tensor<TxTxi1>, tensor<f32>, tensor<f32>) -> tensor<TxTxf32>
    %o = "llm.attention"(%q, %k, %v, %mask) {causal = false, scale = 0.35355339} : (tensor<Bx4xTx8xf32>, tensor<Bx2xTx8xf32>, tensor<Bx2xTx8xf32>, tensor<TxTxf32>) -> tensor<Bx4xTx8xf32>
    func.return %o : tensor<Bx4xTx8xf32>
  }
  // A mask that reads another argument (position_ids) is not recognised.
  // CHECK-LABEL: func.func @mask_reads_positions(%q: tensor<Bx4xTx8xf32>, %k: tensor<Bx2xTx8xf32>, %v: tensor<Bx2xTx8xf32>, %position_ids: tensor<BxTxi64>) -> tensor<Bx4xTx8xf32> {
  // CHECK-NEXT: %kcol = "llm.reshape"(%position_ids) : (tensor<BxTxi64>) -> tensor<Bx1x1xTxi64>
  // CHECK-NEXT: %qpos = "llm.reshape"(%position_ids) : (tensor<BxTxi64>) -> tensor<Bx1xTx1xi64>
  // CHECK-NEXT: %ok = "llm.compare"(%kcol, %qpos) {predicate = "le"} : (tensor<Bx1x1xTxi64>, tensor<Bx1xTx1xi64>) -> tensor<Bx1xTxTxi1>
  // CHECK-NEXT: %o = "llm.attention"(%q, %k, %v, %ok) {causal = false, scale = 0.35355339} : (tensor<Bx4xTx8xf32>, tensor<Bx2xTx8xf32>, tensor<Bx2xTx8xf32>, tensor<Bx1xTxTxi1>) -> tensor<Bx4xTx8xf32>
  // CHECK-NEXT: func.return %o : tensor<Bx4xTx8xf32>
  // CHECK-NEXT: }
  func.func @mask_reads_positions(%q: tensor<Bx4xTx8xf32>, %k: tensor<Bx2xTx8xf32>, %v: tensor<Bx2xTx8xf32>, %position_ids: tensor<BxTxi64>) -> tensor<Bx4xTx8xf32> {
    %kcol = "llm.reshape"(%position_ids) : (tensor<BxTxi64>) -> tensor<Bx1x1xTxi64>
    %qpos = "llm.reshape"(%position_ids) : (tensor<BxTxi64>) -> tensor<Bx1xTx1xi64>
    %ok = "llm.compare"(%kcol, %qpos) {predicate = "le"} : (tensor<Bx1x1xTxi64>, tensor<Bx1xTx1xi64>) -> tensor<Bx1xTxTxi1>
    %o = "llm.attention"(%q, %k, %v, %ok) {causal = false, scale = 0.35355339} : (tensor<Bx4xTx8xf32>, tensor<Bx2xTx8xf32>, tensor<Bx2xTx8xf32>, tensor<Bx1xTxTxi1>) -> tensor<Bx4xTx8xf32>
    func.return %o : tensor<Bx4xTx8xf32>
  }
  // A decode step (one query): padding alone, causal stays false as torch.export has it.
  // CHECK-LABEL: func.func @decode_padding(%q: tensor<Bx4x1x8xf32>, %k: tensor<Bx2x(S+1)x8xf32>, %v: tensor<Bx2x(S+1)x8xf32>, %attention_mask: tensor<Bx(S+1)xi64>) -> tensor<Bx4x1x8xf32> {
  // CHECK-NEXT: %0 = "llm.cast"(%attention_mask) : (tensor<Bx(S+1)xi64>) -> tensor<Bx(S+1)xi1>
  // CHECK-NEXT: %1 = "llm.reshape"(%0) : (tensor<Bx(S+1)xi1>) -> tensor<Bx1x1x(S+1)xi1>
  // CHECK-NEXT: %2 = "llm.attention"(%q, %k, %v, %1) {causal = false, scale = 0.35355339} : (tensor<Bx4x1x8xf32>, tensor<Bx2x(S+1)x8xf32>, tensor<Bx2x(S+1)x8xf32>, tensor<Bx1x1x(S+1)xi1>) -> tensor<Bx4x1x8xf32>
  // CHECK-NEXT: func.return %2 : tensor<Bx4x1x8xf32>
  // CHECK-NEXT: }
  func.func @decode_padding(%q: tensor<Bx4x1x8xf32>, %k: tensor<Bx2x(S+1)x8xf32>, %v: tensor<Bx2x(S+1)x8xf32>, %attention_mask: tensor<Bx(S+1)xi64>) -> tensor<Bx4x1x8xf32> {
    %keys = "llm.arange"() {start = 0, step = 1} : () -> tensor<(S+1)xi64>
    %pos = "llm.arange"() {start = #pimc.sym<"S">, step = 1} : () -> tensor<1xi64>
    %seen = "llm.compare"(%keys, %pos) {predicate = "le"} : (tensor<(S+1)xi64>, tensor<1xi64>) -> tensor<(S+1)xi1>
    %pad = "llm.cast"(%attention_mask) : (tensor<Bx(S+1)xi64>) -> tensor<Bx(S+1)xi1>
    %ok = "llm.logical"(%seen, %pad) {op = "and"} : (tensor<(S+1)xi1>, tensor<Bx(S+1)xi1>) -> tensor<Bx(S+1)xi1>
    %mask = "llm.reshape"(%ok) : (tensor<Bx(S+1)xi1>) -> tensor<Bx1x1x(S+1)xi1>
    %o = "llm.attention"(%q, %k, %v, %mask) {causal = false, scale = 0.35355339} : (tensor<Bx4x1x8xf32>, tensor<Bx2x(S+1)x8xf32>, tensor<Bx2x(S+1)x8xf32>, tensor<Bx1x1x(S+1)xi1>) -> tensor<Bx4x1x8xf32>
    func.return %o : tensor<Bx4x1x8xf32>
  }
}
