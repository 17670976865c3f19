"""Heterogeneous system simulation (architecture.md §8): a step of a placed model as tasks on the
devices' timelines (tasks.py, schedule.py), and Chrome/Perfetto traces of the result."""
from pimc.runtime.system.chrome_trace import trace_events, write_trace
from pimc.runtime.system.schedule import Schedule, Slice, Task, schedule
from pimc.runtime.system.tasks import function_tasks

__all__ = ["Schedule", "Slice", "Task", "function_tasks", "schedule", "trace_events",
           "write_trace"]
