"""A process captures each tiny zoo model once; every call still gets its own module and store
(passes rewrite modules in place, kv-compress adds weights)."""
import numpy as np

from pimc.frontend import zoo
from pimc.ir import print_module


def test_a_second_capture_is_an_independent_copy_of_the_first():
    first, first_store = zoo.capture("llama-tiny")
    text = print_module(first, print_locations=True)
    second, second_store = zoo.capture("llama-tiny")
    assert print_module(second, print_locations=True) == text
    assert second is not first and second_store is not first_store
    assert not {id(op) for op in first.walk()} & {id(op) for op in second.walk()}
    second_store.add("extra", np.zeros(1, np.float32))
    assert "extra" not in first_store and "extra" not in zoo.capture("llama-tiny")[1]
    name = next(iter(first_store.specs))
    assert np.array_equal(first_store[name], second_store[name])
