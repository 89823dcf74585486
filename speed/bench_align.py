"""LABCLIP map training speed: our fit against the authors' training-loop pattern.

Both train the same thing (a D x D identity-initialised map and a temperature, Adam lr 1e-3, the
hard-negative batch loss, batch 1024) for one epoch on the same synthetic cached embeddings
(N x D image, caption and swapped-caption embeddings; default 100k x 512, ViT-B/32's size):

* **authors' pattern**: a per-item ``Dataset`` returning (image, caption, negative) rows, a
  shuffling ``DataLoader`` with the default collate, an ``nn.Linear`` module and their loss's
  form (concatenated captions, scaled logits) on the returned batch (their ``train_model_neg``);
* **ours**: :class:`labclip_lib.alignment.LinearAlignment` (tensors stay put; one permutation per
  epoch and slicing).

It also times the bare matrix products of the same epoch (per step: the map on the 2B captions,
the B x 2B logits, and the two products of the backward pass) on ready tensors, and reports
which share of that GEMM-only throughput each loop reaches. Targets: ours faster than the
authors' pattern, and >= 60% of GEMM throughput.

Then the book's size (an organism's 64-d embeddings, batch 128, 24k rows, one thread, the
learning rate of the book's map), where a step is all overhead: our step written out
(``map_gradients``) against the same step through autograd (``F.normalize``, the loss's
autograd function, ``backward``), the previous implementation. Target: >= 1.3x.
Run: ``python speed/bench_align.py`` (``--quick``: 20k rows).
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from labclip_lib.alignment import LinearAlignment
from labclip_lib.alignment.loss import _interleaved_loss
from labclip_lib.runtime import torch_threads


class TripletDataset(torch.utils.data.Dataset):
    """The authors' data path: one (image, positive, negative) triple per ``__getitem__``."""

    def __init__(self, img, pos, neg):
        self.img, self.pos, self.neg = img, pos, neg

    def __len__(self) -> int:
        return len(self.img)

    def __getitem__(self, i):
        return self.img[i], self.pos[i], self.neg[i]


class AuthorsAlignment(torch.nn.Module):
    """Identity-initialised bias-free linear layer and a temperature ``t`` (their ``CLIPAlignment``)."""

    def __init__(self, dim: int):
        super().__init__()
        self.linear = torch.nn.Linear(dim, dim, bias=False)
        with torch.no_grad():
            self.linear.weight.copy_(torch.eye(dim))
        self.t = torch.nn.Parameter(torch.zeros(()))

    def forward(self, text):
        return F.normalize(self.linear(text), dim=-1)


def authors_loss(x, p, q, t):
    """Their ``constrastive_loss_with_negatives``: B x 2B logits from the concatenated captions,
    scaled by exp(t); image -> text over all 2B, positive caption -> image over B."""
    logits = torch.exp(t) * x @ torch.cat([p, q]).T
    target = torch.arange(len(x))
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits[:, : len(x)].T, target)) / 2


def authors_epoch(img, pos, neg, batch_size: int, lr: float, seed: int = 0) -> float:
    torch.manual_seed(seed)
    model = AuthorsAlignment(img.shape[1])
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    loader = torch.utils.data.DataLoader(TripletDataset(img, pos, neg), batch_size=batch_size, shuffle=True)
    t0 = time.perf_counter()
    running = 0.0
    for x, p, q in loader:
        loss = authors_loss(F.normalize(x, dim=-1), model(p), model(q), model.t)
        opt.zero_grad()
        loss.backward()
        opt.step()
        running += float(loss.detach())
    return time.perf_counter() - t0


def autograd_epoch(img, pos, neg, batch_size: int, lr: float, seed: int = 0) -> float:
    """One epoch of LinearAlignment's loop with autograd's step (the implementation before
    ``map_gradients``): the same gathers, interleaving, loss and fused Adam."""
    n, d = img.shape
    img = F.normalize(img, dim=1)
    texts = torch.stack([pos, neg], 1).view(n, 2 * d)
    weight = torch.nn.Parameter(torch.eye(d))
    log_scale = torch.nn.Parameter(torch.zeros(()))
    opt = torch.optim.Adam([weight, log_scale], lr=lr, fused=True)
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    t0 = time.perf_counter()
    for s in range(0, n, batch_size):
        rows = perm[s : s + batch_size]
        x, ts = img[rows], texts[rows].view(-1, d)
        loss, _ = _interleaved_loss(x, F.normalize(ts @ weight.T, dim=1), log_scale)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return time.perf_counter() - t0


def organism_size(n: int = 24_000, d: int = 64, batch_size: int = 128, lr: float = 0.01, epochs: int = 3) -> None:
    """The book's maps: written-out step against autograd's, one thread, side by side."""
    g = torch.Generator().manual_seed(1)
    img, pos, neg = (torch.randn(n, d, generator=g) for _ in range(3))
    with torch_threads(1):
        autograd_epoch(img[:2048], pos[:2048], neg[:2048], batch_size, lr)  # warm-up
        t_auto = min(autograd_epoch(img, pos, neg, batch_size, lr) for _ in range(epochs))
        t_ours = []
        for _ in range(epochs):
            fit = LinearAlignment(epochs=1, batch_size=batch_size, lr=lr, progress=False).fit(img, pos, neg)
            t_ours.append(fit.history_.seconds)
    steps = (n + batch_size - 1) // batch_size
    print(f"\nthe book's size: {n:,} x {d} embeddings, batch {batch_size}, one thread, one epoch ({steps} steps; "
          f"best of {epochs})")
    print(f"{'':28}{'seconds':>9}{'ms/step':>9}")
    for name, t in (("autograd step (before)", t_auto), ("written out (ours)", min(t_ours))):
        print(f"{name:28}{t:9.2f}{t / steps * 1000:9.2f}")
    ratio = t_auto / min(t_ours)
    print(f"written out vs autograd: {ratio:.2f}x faster (target >= 1.3) {'PASS' if ratio >= 1.3 else 'FAIL'}")


def gemm_epoch(n: int, d: int, batch_size: int) -> float:
    """The epoch's matrix products alone, on ready tensors."""
    g = torch.Generator().manual_seed(0)
    t_in = torch.randn(2 * batch_size, d, generator=g)
    x = torch.randn(batch_size, d, generator=g)
    w = torch.randn(d, d, generator=g)
    g_logits = torch.randn(batch_size, 2 * batch_size, generator=g)
    steps = (n + batch_size - 1) // batch_size
    t0 = time.perf_counter()
    for _ in range(steps):
        z = t_in @ w.T  # the map on positives and negatives (2B x D)
        _ = x @ z.T  # logits (B x 2B)
        g_z = g_logits.T @ x  # backward to the mapped captions (2B x D)
        _ = g_z.T @ t_in  # gradient of the map (D x D)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--batch-size", type=int, default=1024)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--quick", action="store_true", help="20k rows")
    args = ap.parse_args()
    n = 20_000 if args.quick else args.n
    g = torch.Generator().manual_seed(0)
    img, pos, neg = (torch.randn(n, args.dim, generator=g) for _ in range(3))
    steps = (n + args.batch_size - 1) // args.batch_size
    flops = steps * 2 * (2 * (2 * args.batch_size) * args.dim**2 + 2 * args.batch_size * (2 * args.batch_size) * args.dim)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {n:,} x {args.dim} embeddings, "
          f"batch {args.batch_size}, one epoch ({steps} steps, {flops / 1e9:.1f} GFLOP of matrix products)")
    # warm-up (imports, allocator): not part of either loop
    LinearAlignment(epochs=1, batch_size=args.batch_size, lr=args.lr, progress=False).fit(img[:2048], pos[:2048], neg[:2048])
    authors_epoch(img[:2048], pos[:2048], neg[:2048], args.batch_size, args.lr)
    t_gemm = gemm_epoch(n, args.dim, args.batch_size)
    t0 = time.perf_counter()
    LinearAlignment(epochs=1, batch_size=args.batch_size, lr=args.lr, progress=False).fit(img, pos, neg)
    t_ours = time.perf_counter() - t0
    t_auth = authors_epoch(img, pos, neg, args.batch_size, args.lr)
    print(f"{'':24}{'seconds':>9}{'rows/s':>11}{'GFLOP/s':>9}{'share of GEMM':>15}")
    for name, t in (("matrix products only", t_gemm), ("ours (LinearAlignment)", t_ours), ("authors' pattern", t_auth)):
        print(f"{name:24}{t:9.2f}{n / t:11,.0f}{flops / t / 1e9:9.1f}{t_gemm / t:14.0%}")
    ratio, share = t_auth / t_ours, t_gemm / t_ours
    print(f"ours vs authors' pattern: {ratio:.2f}x faster (target > 1) {'PASS' if ratio > 1 else 'FAIL'}; "
          f"ours reaches {share:.0%} of GEMM throughput (target >= 60%) {'PASS' if share >= 0.6 else 'FAIL'}")
    organism_size()


if __name__ == "__main__":
    main()
