"""Threads: concurrent calls with their own generators equal the serial
calls bit for bit, the GIL is released while kernels run, and patched()
entered in one thread leaves the others' calls intact."""

import sys
import threading
import time

import pytest
import torch

import fastinit
import fastinit.init as fi
from conftest import assert_bitwise_equal
from initializers import INITIALIZERS

THREADS = 8
CALLS_PER_THREAD = 40
SHAPES = [(64, 64), (300, 7), (1, 1000), (128, 257)]


def _thread_calls(thread):
    """The calls of one thread: (initializer name, shape), in order."""
    names = list(INITIALIZERS)
    return [(names[(thread * 7 + k) % len(names)], SHAPES[(thread + k) % len(SHAPES)]) for k in range(CALLS_PER_THREAD)]


def _run_thread(thread, barrier=None):
    generator = torch.Generator().manual_seed(1000 + thread)
    if barrier is not None:
        barrier.wait()
    results = []
    for name, shape in _thread_calls(thread):
        tensor = torch.empty(shape)
        INITIALIZERS[name](tensor, generator)
        results.append(tensor)
    return results


def test_threads_with_own_generators_equal_serial_calls():
    serial = [_run_thread(thread) for thread in range(THREADS)]
    concurrent = [None] * THREADS
    barrier = threading.Barrier(THREADS)

    def work(thread):
        concurrent[thread] = _run_thread(thread, barrier)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for thread in range(THREADS):
        assert concurrent[thread] is not None, f"thread {thread} failed"
        for (name, _), got, want in zip(_thread_calls(thread), concurrent[thread], serial[thread]):
            assert_bitwise_equal(got, want), name


def _largest_pause(fill, repeats=4):
    """The longest time the main thread's Python loop was stalled while
    another thread ran `fill` `repeats` times."""
    done = threading.Event()

    def work():
        for _ in range(repeats):
            fill()
        done.set()

    worker = threading.Thread(target=work)
    last, largest = time.perf_counter(), 0.0
    worker.start()
    while not done.is_set():
        now = time.perf_counter()
        largest, last = max(largest, now - last), now
    worker.join()
    return largest


@pytest.mark.parametrize("path", ["function", "batched op"])
def test_the_gil_is_released_while_kernels_run(path, restore_threads):
    tensor = torch.empty(32 << 20)
    fill = {
        "function": lambda: fi.normal_(tensor),
        "batched op": lambda: torch.ops.fastinit.trunc_normal_([tensor], [1], [0.0], [1.0], [-2.0], [2.0]),
    }[path]
    torch.set_num_threads(1)  # a long kernel: the pause it would cause is easy to see
    fill()
    start = time.perf_counter()
    fill()
    kernel = time.perf_counter() - start
    interval = sys.getswitchinterval()
    sys.setswitchinterval(0.0005)
    try:
        # Holding the GIL would stall the loop for a whole kernel every time;
        # a busy machine may stall it once in a while, hence the attempts.
        pauses = []
        for _ in range(3):
            pauses.append(_largest_pause(fill))
            if pauses[-1] < kernel / 2:
                break
    finally:
        sys.setswitchinterval(interval)
    assert min(pauses) < kernel / 2, (pauses, kernel)


def test_patched_in_one_thread_leaves_other_threads_intact():
    originals = {name: getattr(torch.nn.init, name) for name in ("normal_", "uniform_", "kaiming_uniform_")}
    stop = threading.Event()
    toggles = []

    def toggle():
        while not stop.is_set():
            with fastinit.patched():
                toggles.append(1)

    togglers = [threading.Thread(target=toggle) for _ in range(2)]
    for t in togglers:
        t.start()
    try:
        expected = [_run_thread(thread) for thread in range(3)]
        for _ in range(3):
            got = [_run_thread(thread) for thread in range(3)]
            for a, b in zip(got, expected):
                for x, y in zip(a, b):
                    assert_bitwise_equal(x, y)
            # torch.nn.init used meanwhile is always one whole implementation
            w = torch.nn.init.kaiming_uniform_(torch.empty(64, 64), a=5 ** 0.5)
            assert w.abs().max() <= 1 / 8 + 1e-6
    finally:
        stop.set()
        for t in togglers:
            t.join()
    assert toggles, "patched() was never entered"
    assert not fastinit.is_patched()
    for name, original in originals.items():
        assert getattr(torch.nn.init, name) is original
