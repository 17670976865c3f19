"""runtime/system: the discrete-event schedule against hand-computed timelines, the IR bridge
against the analysis' own per-op times, and the Chrome trace's schema."""
from __future__ import annotations

import json
from collections import defaultdict

import pytest

from pimc.api import capture
from pimc.analysis.timing import time_function
from pimc.passes import PassManager
from pimc.passes.pipeline_parser import parse_pipeline
from pimc.passes.pipelines import expand
from pimc.runtime.system import (Task, function_tasks, schedule, trace_events, write_trace)
from pimc.targets import get_target


def two_chains(hold=1.0):
    """Two sequences, each a 2 s NPU op (hold s of it on the channels) then a 3 s PIM op."""
    return [Task("a", "npu", 2.0, (), hold), Task("b", "pim", 3.0, (0,), 3.0),
            Task("c", "npu", 2.0, (), hold), Task("d", "pim", 3.0, (2,), 3.0)]


def test_dual_row_buffers_overlap_npu_and_pim():
    # a [0,2]  c [2,4] on the NPU; b [2,5]  d [5,8] on PIM
    s = schedule(two_chains(), dual_row_buffers=True)
    assert [(x.start_s, x.end_s) for x in s.slices] == [(0, 2), (2, 5), (2, 4), (5, 8)]
    assert s.makespan_s == 8 and s.busy_s == {"npu": 4.0, "pim": 6.0}
    assert s.utilisation()["pim"] == pytest.approx(0.75)


def test_one_row_buffer_serialises_channel_holds():
    # b holds the channels [2,5], so c's 1 s hold waits until 5: c [5,7], d [7,10]
    s = schedule(two_chains(), dual_row_buffers=False)
    assert [(x.start_s, x.end_s) for x in s.slices] == [(0, 2), (2, 5), (5, 7), (7, 10)]
    assert s.makespan_s == 10
    # with no channel traffic on the NPU, both modes agree
    assert schedule(two_chains(hold=0.0), False).makespan_s == 8


def test_a_hold_fits_an_earlier_gap():
    tasks = [Task("p1", "pim", 1.0, (), 1.0), Task("p2", "pim", 1.0, (0,), 1.0),
             Task("w", "npu", 5.0, (), 0.0), Task("n", "xpu", 0.5, (), 0.5)]
    s = schedule(tasks, dual_row_buffers=False)
    assert [(x.start_s, x.end_s) for x in s.slices][3] == (2.0, 2.5)  # after both PIM holds
    with pytest.raises(ValueError, match="depends on a later task"):
        schedule([Task("x", "npu", 1.0, (1,)), Task("y", "npu", 1.0)])
    with pytest.raises(ValueError, match="hold_s"):
        Task("z", "npu", 1.0, (), 2.0)


def placed_decode(target: str, batch: int, context: int):
    module, _ = capture("llama-tiny")
    text = f"{expand('default')},analyze-intensity,place-devices{{target={target},batch={batch}," \
           f"context={context}}}"
    PassManager(parse_pipeline(text)).run(module)
    return next(f for f in module.funcs if f.sym_name == "decode")


def test_tasks_on_one_device_take_the_sum_of_their_times():
    """On npu-only everything runs on the NPU, so the step is the sum of analysis' op times."""
    func = placed_decode("npu-only", 4, 64)
    target = get_target("npu-only")
    times = time_function(func, target, 4, 64, keep_devices=True)
    tasks = function_tasks(func, target, 4, 64)
    s = schedule(tasks)
    assert {t.device for t in tasks if t.duration_s} == {"npu"}
    assert s.makespan_s == pytest.approx(sum(t.est_time_s for t in times), rel=1e-12)


def test_neupims_step_overlaps_devices_and_respects_deps():
    func = placed_decode("neupims", 4, 64)
    target = get_target("neupims")
    tasks = function_tasks(func, target, 4, 64)
    s = schedule(tasks)
    end = {x.task: x.end_s for x in s.slices}
    for x in s.slices:
        for d in tasks[x.task].deps:
            assert end.get(d, 0.0) <= x.start_s + 1e-15
    assert {"npu", "pim"} <= {t.device for t in tasks if t.duration_s}
    total = sum(t.duration_s for t in tasks)
    assert max(s.busy_s.values()) <= s.makespan_s <= total + 1e-15


def test_chrome_trace_schema_and_no_overlap_per_track(tmp_path):
    tasks = two_chains()
    steps = [("step0", tasks, schedule(tasks), 0.0), ("step1", tasks, schedule(tasks), 8.0)]
    trace = trace_events(steps, pim_channels={"pim": 4})
    path = tmp_path / "t.json"
    write_trace(path, trace)
    data = json.loads(path.read_text())
    assert not list(tmp_path.glob("*.part"))
    tracks = defaultdict(list)
    names = {(e["pid"], e["tid"]) for e in data["traceEvents"] if e["ph"] == "M"
             and e["name"] == "thread_name"}
    for e in data["traceEvents"]:
        assert e["ph"] in ("X", "M") and isinstance(e["pid"], int) and isinstance(e["tid"], int)
        if e["ph"] == "X":
            assert e["dur"] >= 0 and e["ts"] >= 0 and isinstance(e["name"], str)
            assert (e["pid"], e["tid"]) in names
            tracks[(e["pid"], e["tid"])].append((e["ts"], e["ts"] + e["dur"]))
    assert len(tracks) == 1 + 1 + 4  # npu, pim, 4 PIM channels
    for spans in tracks.values():
        spans.sort()
        assert all(a[1] <= b[0] + 1e-9 for a, b in zip(spans, spans[1:]))


def test_a_devices_lanes_overlap_but_share_the_external_bus():
    """The NPU's vector units run beside its arrays (own lane), yet the two lanes' external
    traffic never overlaps: g holds the bus [0,1]; v's 2 s hold waits for it, v [1,3]."""
    tasks = [Task("g", "npu", 4.0, (), 1.0, external=True),
             Task("v", "npu", 2.0, (), 2.0, unit="vector", external=True),
             Task("w", "npu", 1.0, (), 0.0, unit="vector", external=True)]
    s = schedule(tasks)
    assert [(x.start_s, x.end_s, x.unit) for x in s.slices] == \
        [(0, 4, ""), (1, 3, "vector"), (3, 4, "vector")]
    assert s.busy_s == {"npu": 4.0, "npu.vector": 3.0} and s.makespan_s == 4
    # not external (PIM compute, Logic-PIM over TSVs): no bus reservation, v starts at 0
    free = [Task("g", "npu", 4.0, (), 1.0, external=True),
            Task("v", "npu", 2.0, (), 2.0, unit="vector")]
    assert [x.start_s for x in schedule(free).slices] == [0, 0]


def test_npusim_vector_ops_get_the_vector_lane():
    func = placed_decode("neupims", 4, 64)
    target = get_target("neupims")
    tasks = function_tasks(func, target, 4, 64, npusim=True)
    lanes = {(t.kind, t.lane) for t in tasks if t.duration_s}
    assert {("llm.rmsnorm", "npu.vector"), ("llm.silu", "npu.vector"),
            ("llm.rope", "npu"), ("llm.attention", "pim")} <= lanes
    assert all(t.external == (t.device == "npu") for t in tasks)
    # the roofline NPU keeps one lane
    assert {t.unit for t in function_tasks(func, target, 4, 64)} == {""}


def test_chrome_trace_gives_a_lane_its_own_thread():
    tasks = [Task("g", "npu", 4.0, (), 1.0, external=True),
             Task("v", "npu", 2.0, (), 2.0, unit="vector", external=True)]
    events = trace_events([("s", tasks, schedule(tasks), 0.0)])["traceEvents"]
    threads = {(e["pid"], e["tid"]): e["args"]["name"] for e in events
               if e["ph"] == "M" and e["name"] == "thread_name"}
    assert sorted(threads.values()) == ["npu", "npu vector"]
    assert len({(e["pid"], e["tid"]) for e in events if e["ph"] == "X"}) == 2
