"""Deferred fills (Note [deferred fills] in fastinit/deferral.py): whatever
ops run in the block, every tensor ends with the bits, and every op reads
the values, of fills made when called; overwritten fills are skipped."""

import contextlib
import ctypes
import io
import os
import weakref

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import fastinit
import fastinit.patching
from conftest import assert_bitwise_equal
from fastinit.bench.models import REAL_MODELS, library_available, real_model
from fastinit.deferral import DeferredFills


def _saved(tensor):
    buffer = io.BytesIO()
    torch.save(tensor, buffer)
    buffer.seek(0)
    return torch.load(buffer)


def _through_a_wrapper(tensor):
    """Doubled by a traceable wrapper subclass, which runs its ops on the
    tensors it wraps, below any dispatch mode."""
    from torch.testing._internal.two_tensor import TwoTensor

    return (TwoTensor(tensor, tensor) * 2).a.clone()

# One step on a 64-element buffer `b` (and `other`, 16 elements); each may
# read into `seen`.
STEPS = {
    "normal whole": lambda b, other, seen: fastinit.init.normal_(b, 0.0, 2.0),
    "uniform whole": lambda b, other, seen: fastinit.init.uniform_(b, -1.0, 1.0),
    "trunc_normal rows": lambda b, other, seen: fastinit.init.trunc_normal_(b.view(8, 8)[2:5]),
    "normal columns": lambda b, other, seen: fastinit.init.normal_(b.view(8, 8)[:, 1:3]),
    "uniform other": lambda b, other, seen: fastinit.init.uniform_(other),
    "zero a row": lambda b, other, seen: b.view(8, 8)[3].zero_(),
    "fill whole": lambda b, other, seen: b.fill_(0.5),
    "copy in": lambda b, other, seen: b[:16].copy_(other),
    "copy out": lambda b, other, seen: other.copy_(b[8:24]),
    "read a sum": lambda b, other, seen: seen.append(b[10:40].sum()),
    "read a transpose": lambda b, other, seen: seen.append(b.view(8, 8).t().clone()),
    "add in place": lambda b, other, seen: b[30:].add_(1.0),
    "kaiming of a view": lambda b, other, seen: fastinit.init.kaiming_uniform_(b.view(8, 8)),
    # Reads of the memory itself, which no dispatcher op shows (_RawReads).
    "read numpy": lambda b, other, seen: seen.append(torch.from_numpy(b[5:21].numpy().copy())),
    "read data_ptr": lambda b, other, seen: seen.append(
        torch.frombuffer(bytearray(ctypes.string_at(b[20:].data_ptr(), 16)), dtype=torch.float32)),
    "read tolist": lambda b, other, seen: seen.append(torch.tensor(b[40:50].tolist())),
    "read storage": lambda b, other, seen: seen.append(
        torch.frombuffer(bytearray(bytes(other.untyped_storage())), dtype=torch.float32)),
    "read saved": lambda b, other, seen: seen.append(_saved(b[12:30])),
    "read through a wrapper": lambda b, other, seen: seen.append(_through_a_wrapper(other)),
}


def _run(steps, deferred: bool):
    torch.manual_seed(11)
    storage = torch.empty(96)  # b and other side by side in one allocation
    b, other = storage[:64], storage[64:80]
    storage.fill_(7.0)
    seen = []
    with DeferredFills() if deferred else contextlib.nullcontext():
        for step in steps:
            STEPS[step](b, other, seen)
    return storage, seen, torch.rand(4)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(sorted(STEPS)), min_size=1, max_size=10))
def test_any_sequence_of_ops_sees_and_leaves_the_bits_of_fills_made_at_once(steps):
    at_once, deferred = _run(steps, False), _run(steps, True)
    for expected, got in zip(at_once, deferred):
        if isinstance(expected, list):
            assert len(expected) == len(got)
            for e, g in zip(expected, got):
                assert_bitwise_equal(g, e)
        else:
            assert_bitwise_equal(got, expected)


def test_overwritten_fills_are_skipped_and_reads_flush():
    t = torch.empty(1000)
    with DeferredFills() as mode:
        fastinit.init.normal_(t)
        fastinit.init.uniform_(t)  # overwrites the normal whole
        assert mode.values_dropped == 1000
        total = t.sum()  # a read: the uniform is written first
        fastinit.init.zeros_(t)
        assert mode.values_dropped == 1000  # the uniform was already written
    assert 0.0 < float(total) / 1000 < 1.0 and torch.count_nonzero(t) == 0


def test_pending_fills_are_written_when_the_block_raises():
    t = torch.full((100,), 3.0)
    with pytest.raises(KeyError), DeferredFills():
        fastinit.init.normal_(t)
        raise KeyError
    assert not torch.equal(t, torch.full((100,), 3.0))


def test_fills_it_cannot_defer_run_at_once():
    """A fill of a meta tensor runs as it stands, and an op that reads a
    pending fill (orthogonal_'s QR of its normals) has it written first."""
    t = torch.zeros(10, dtype=torch.float64)
    meta = torch.empty(10, device="meta")
    with DeferredFills() as mode:
        fastinit.init.normal_(meta)
        fastinit.init.orthogonal_(t.view(2, 5))  # normals read by the QR at once
        assert mode.values_dropped == 0
    assert torch.count_nonzero(t) == 10


def _assert_same_models_and_generators(first, second):
    """Each is (state_dict, draws of the generator after the build)."""
    (state, after), (other_state, other_after) = first, second
    assert state.keys() == other_state.keys()
    for key, tensor in state.items():
        assert_bitwise_equal(other_state[key], tensor)
    assert_bitwise_equal(other_after, after)


@pytest.mark.parametrize("name", ["transformers-t5", "transformers-llama", "transformers-bert"])
def test_materialize_with_deferred_fills_gives_the_bits_of_fills_made_at_once(name, monkeypatch):
    from test_own_init import MODELS, _on_meta

    results = []
    for deferral in (DeferredFills, contextlib.nullcontext):
        monkeypatch.setattr(fastinit.patching, "DeferredFills", deferral)
        model = _on_meta(MODELS[name])
        torch.manual_seed(4)
        fastinit.materialize(model)
        results.append((model.state_dict(), torch.rand(3)))
    _assert_same_models_and_generators(*results)


def test_fills_nothing_can_read_at_exit_are_skipped():
    """Note [unreachable pending fills]: a pending fill of a tensor the block
    dropped is not written; one whose memory a view, a weak reference or a
    storage object still reaches is, with the bits of a fill made at once."""

    def build():
        torch.manual_seed(5)
        replaced = torch.nn.Linear(30, 20)
        replaced.weight = torch.nn.Parameter(torch.zeros(20, 30))  # the old weight is dropped
        kept_by_view = torch.nn.Linear(10, 10).weight[:2]  # the Linear and its bias are dropped
        weakly_kept = torch.nn.Linear(10, 10)  # its weight: weakly referenced; its bias: dropped
        weak = weakref.ref(weakly_kept.weight)
        storage = torch.nn.Linear(10, 10).weight.untyped_storage()  # its bias is dropped
        del weakly_kept
        return replaced, kept_by_view, weak, storage

    with fastinit.patched():
        replaced, kept_by_view, _, storage = build()
    with fastinit.patched(), DeferredFills() as mode:
        replaced_d, kept_by_view_d, _, storage_d = build()
    assert mode.values_unreachable == 20 * 30 + 10 + 10 + 10  # the old weight and three biases
    assert_bitwise_equal(replaced_d.bias, replaced.bias)
    assert_bitwise_equal(kept_by_view_d, kept_by_view)
    assert bytes(storage_d) == bytes(storage)


@pytest.mark.parametrize("name", sorted(REAL_MODELS))
def test_patched_with_deferred_fills_builds_the_bits_of_patched(name):
    """patched(defer_fills=True) around building a library's model (small
    configs of the benchmark's models) leaves every tensor and the
    generator as patched() does."""
    if not library_available(name):
        pytest.skip(f"{REAL_MODELS[name][0]} is not installed")
    real_model(name, small=True)  # imports the library before patched() looks for its initializers
    results = []
    for defer_fills in (False, True):
        torch.manual_seed(8)
        with fastinit.patched(defer_fills=defer_fills):
            model = real_model(name, small=True)
        results.append((model.state_dict(), torch.rand(3)))
    _assert_same_models_and_generators(*results)


def test_patched_with_deferred_fills_writes_them_on_exit_and_restores_on_raise():
    t = torch.full((100,), 3.0)
    with pytest.raises(KeyError), fastinit.patched(defer_fills=True):
        torch.nn.init.normal_(t)
        raise KeyError
    assert not torch.equal(t, torch.full((100,), 3.0))
    assert torch.nn.init.normal_.__module__ == "torch.nn.init"
    assert torch._C._len_torch_function_stack() == 0


def test_a_process_forked_in_the_block_gets_the_written_values():
    expected = torch.empty(1000)
    torch.manual_seed(2)
    fastinit.init.normal_(expected)
    t = torch.empty(1000)
    torch.manual_seed(2)
    read_end, write_end = os.pipe()
    with DeferredFills():
        fastinit.init.normal_(t)
        with torch._C.DisableTorchFunction():  # the address alone, as C++ code would take it
            address = t.data_ptr()
        pid = os.fork()
        if pid == 0:  # the child reads the memory as it came, without torch
            os.write(write_end, ctypes.string_at(address, 4000))
            os._exit(0)
    os.close(write_end)
    received = b""
    while chunk := os.read(read_end, 65536):
        received += chunk
    os.close(read_end)
    os.waitpid(pid, 0)
    assert received == expected.numpy().tobytes()
