"""The placer, `Program.report()` and the system simulator give each op the same time at the
same point (target, batch, context, element width), because all three call
`residency.Movement.time`: the cost model's op time on the op's device plus moving its inputs
there. The reference is the roofline by hand for one GEMV, so the shared number is also right."""
import pimc
from pimc.passes.cost_model import get_cost_model
from pimc.passes.place_devices import Placer, body_ops
from pimc.runtime.system.tasks import function_tasks

BATCH, CONTEXT = 4, 256


def test_placer_report_and_simulator_time_each_op_alike():
    prog = pimc.compile("llama-tiny", target="neupims", backend="null",
                        place_devices={"batch": BATCH, "context": CONTEXT})
    func, target = prog.ir.func("decode"), prog.target
    placer = Placer(target, target.name, get_cost_model("roofline", target), "pick-min", ())
    placed = placer.place(func, BATCH, CONTEXT)
    assert {op: str(op.attributes["device"].device) for op in body_ops(func)} == placed
    by_placer = [sum(placer.times[op]) for op in body_ops(func) if op in placer.times]

    report = prog.report(batch=BATCH, context=CONTEXT, phase="decode", dtype="ir")
    by_report = [row["est_time_s"] for row in report.rows]

    tasks = function_tasks(func, target, BATCH, CONTEXT)
    by_simulator = [t.duration_s for t, op in zip(tasks, body_ops(func)) if op in placer.times]

    assert len(by_placer) == len(report.rows) > 20
    assert by_placer == by_report == by_simulator  # exactly: one function computed them

    # one of them by hand: the first GEMV (layer 0's q_proj), f32 (dtype="ir"): the weight,
    # the activations in and out, at the bandwidth or peak of the device it was placed on
    row = next(r for r in report.rows if r["op"] == "llm.linear")
    q = next(op for op in body_ops(func) if op.name == "llm.linear")
    out_dim, in_dim = q.operands[1].type.shape
    device = target.devices()[row["device"]]
    flops = 2 * BATCH * in_dim * out_dim
    nbytes = 4 * (in_dim * out_dim + BATCH * in_dim + BATCH * out_dim)
    roofline = max(flops / device.peak_flops, nbytes / device.bandwidth_bytes_s) + \
        device.overhead_s
    assert (row["flops"], row["bytes"]) == (flops, nbytes)
    assert abs(row["est_time_s"] - row["transfer_s"] - roofline) <= 1e-9 * roofline
