"""Where orthogonal_'s time goes, stock and fastinit, in one process.

    python benchmarks/orthogonal_breakdown.py [--repeat 5] [--threads N]

For each case (64 x 256^2, 8 x 2048^2, 1 x 4096^2 float32) it reports the
medians of: a loop of stock orthogonal_ and, inside it, the share of
torch.linalg.qr on the same matrices; fastinit.batched_orthogonal_ and,
inside it, the share of the gaussian fill and of ATen's householder_product
(LAPACK's orgqr) on the same reflectors (Note [orthogonal from reflectors]
in csrc/orthogonal_householder.cpp). fastinit's householder_product runs as
fastinit runs it: one matrix per thread with single-threaded LAPACK for
small matrices, all threads on one matrix for large ones.
"""

import argparse
import concurrent.futures

import torch
import torch.nn.init as stock

import fastinit
from fastinit.bench.report import median_seconds
from fastinit.orthogonal import LARGE_MATRIX_ELEMENTS

CASES = [(64, 256), (8, 2048), (1, 4096)]


def householder_as_fastinit(reflectors: torch.Tensor, taus: torch.Tensor, n: int) -> None:
    if n * n >= LARGE_MATRIX_ELEMENTS:
        for i in range(len(reflectors)):
            torch.linalg.householder_product(reflectors[i], taus[i])
        return
    threads = torch.get_num_threads()
    per_thread = -(-len(reflectors) // threads)
    # torch's intra-op pool cannot be driven from Python; a single-threaded
    # LAPACK call per matrix, one batch per thread, is what the op does.
    torch.set_num_threads(1)
    try:
        with concurrent.futures.ThreadPoolExecutor(threads) as pool:
            list(pool.map(lambda s: torch.linalg.householder_product(reflectors[s], taus[s]),
                          [slice(k, k + per_thread) for k in range(0, len(reflectors), per_thread)]))
    finally:
        torch.set_num_threads(threads)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, fastinit CPU kernels: "
          f"{torch.ops.fastinit.cpu_kernels()}; medians of {args.repeat}")
    print("| case | stock loop | of which linalg.qr | fastinit | of which gaussians | of which householder_product "
          "| rest | speedup |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for count, n in CASES:
        stack = torch.empty(count, n, n)
        gaussians = torch.randn(count, n, n)
        stock_total = median_seconds(lambda: [stock.orthogonal_(m) for m in stack], args.repeat)
        stock_qr = median_seconds(lambda: [torch.linalg.qr(g) for g in gaussians], args.repeat)
        fast_total = median_seconds(lambda: fastinit.batched_orthogonal_(stack), args.repeat)
        workspace = torch.empty(count, n, n)
        fill = median_seconds(
            lambda: torch.ops.fastinit.normal_(list(workspace.unbind(0)), list(range(count)), [0.0] * count, [1.0] * count),
            args.repeat)
        # Reflectors of the law fastinit builds (Note [orthogonal from
        # reflectors]), made by LAPACK's geqrf outside the timing.
        reflectors, taus = torch.geqrf(gaussians)
        householder = median_seconds(lambda: householder_as_fastinit(reflectors, taus, n), args.repeat)
        rest = fast_total - fill - householder
        ms = lambda s: f"{s * 1e3:.1f} ms"  # noqa: E731
        share = lambda part, whole: f"{ms(part)} ({part / whole:.0%})"  # noqa: E731
        print(f"| {count} x {n}x{n} | {ms(stock_total)} | {share(stock_qr, stock_total)} | {ms(fast_total)} "
              f"| {share(fill, fast_total)} | {share(householder, fast_total)} | {share(rest, fast_total)} "
              f"| {stock_total / fast_total:.1f}x |")


if __name__ == "__main__":
    main()
