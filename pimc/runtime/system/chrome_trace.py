"""Schedules as Chrome trace-event JSON, the format ui.perfetto.dev and chrome://tracing open.

One process per device, whose thread 0 is the device's track; a PIM device also gets one thread
per channel, because every PIM kernel runs on all the channels at once (AttAcc's and NeuPIMs'
layouts spread heads and rows over every channel) and a reader wants to see each channel busy.
A device's other lanes (schedule.py: the NPU's vector units) get a thread each after those.
Complete events ("ph": "X") carry microsecond `ts`/`dur`; metadata events ("ph": "M") name the
processes and threads. Format: the Trace Event Format document (Google, "JSON Object Format").
"""
from __future__ import annotations

import json
from pathlib import Path

from pimc.runtime.system.schedule import Schedule, Task


def trace_events(steps: list[tuple[str, list[Task], Schedule, float]],
                 pim_channels: dict[str, int] | None = None) -> dict:
    """`steps`: (label, tasks, schedule, offset_s) per simulated step, laid end to end by their
    offsets; `pim_channels`: device -> channel count for the per-channel tracks."""
    pim_channels = pim_channels or {}
    pids: dict[str, int] = {}
    tids: dict[tuple[str, str], int] = {}
    events: list[dict] = []

    def pid(device: str) -> int:
        if device not in pids:
            pids[device] = len(pids) + 1
            events.append(dict(ph="M", name="process_name", pid=pids[device], tid=0,
                               args=dict(name=device)))
            events.append(dict(ph="M", name="thread_name", pid=pids[device], tid=0,
                               args=dict(name=device)))
            for c in range(pim_channels.get(device, 0)):
                events.append(dict(ph="M", name="thread_name", pid=pids[device], tid=c + 1,
                                   args=dict(name=f"{device} ch{c}")))
        return pids[device]

    def tid(device: str, unit: str) -> int:
        if not unit:
            return 0
        if (device, unit) not in tids:
            tids[device, unit] = pim_channels.get(device, 0) + 1 + \
                sum(d == device for d, _ in tids)
            events.append(dict(ph="M", name="thread_name", pid=pid(device),
                               tid=tids[device, unit], args=dict(name=f"{device} {unit}")))
        return tids[device, unit]

    for label, tasks, sched, offset in steps:
        for s in sched.slices:
            task = tasks[s.task]
            base = dict(ph="X", name=task.kind or task.name, cat=label,
                        ts=(offset + s.start_s) * 1e6, dur=(s.end_s - s.start_s) * 1e6,
                        args=dict(op=task.name, sub_batch=task.sub_batch, step=label))
            p = pid(s.device)
            events.append(dict(base, pid=p, tid=tid(s.device, s.unit)))
            for c in range(pim_channels.get(s.device, 0) if not s.unit else 0):
                events.append(dict(base, pid=p, tid=c + 1))
    return dict(traceEvents=events, displayTimeUnit="ns")


def write_trace(path: str | Path, trace: dict) -> None:
    """Written whole to a temporary name and renamed, so no half-written file is left behind."""
    path = Path(path)
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(json.dumps(trace))
    tmp.replace(path)
