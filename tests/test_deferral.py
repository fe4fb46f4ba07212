"""Deferred fills (Note [deferred fills] in fastinit/deferral.py): whatever
ops run in the block, every tensor ends with the bits, and every op reads
the values, of fills made when called; overwritten fills are skipped."""

import contextlib

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import fastinit
import fastinit.model
from conftest import assert_bitwise_equal
from fastinit.deferral import DeferredFills

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


@pytest.mark.parametrize("name", ["transformers-t5", "transformers-llama", "transformers-bert"])
def test_materialize_with_deferred_fills_gives_the_bits_of_fills_made_at_once(name, monkeypatch):
    from test_own_init import MODELS, _on_meta

    results = []
    for deferring in (fastinit.model._deferring, lambda wanted: contextlib.nullcontext()):
        monkeypatch.setattr(fastinit.model, "_deferring", deferring)
        model = _on_meta(MODELS[name])
        torch.manual_seed(4)
        fastinit.materialize(model)
        results.append((model.state_dict(), torch.rand(3)))
    (deferred, after_deferred), (at_once, after_at_once) = results
    assert deferred.keys() == at_once.keys()
    for key, tensor in at_once.items():
        assert_bitwise_equal(deferred[key], tensor)
    assert_bitwise_equal(after_deferred, after_at_once)
