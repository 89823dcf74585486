"""The LABCLIP losses, written out: HNB (every image against the batch's captions *and* their
attribute-swapped captions, ``B x 2B`` logits) and the SB ablation (plain symmetric InfoNCE).

:class:`_ContrastiveLoss` computes the loss and its gradient by hand (one matrix product for the
logits, softmaxes shifted by the scale, a max-shifted fallback), checked against autograd's
cross-entropy formulation in the tests.
"""

from __future__ import annotations

import functools

import torch

__all__ = ["LOSSES", "hnb_loss", "sb_loss", "map_gradients", "duplicate_ids"]

LOSSES = ("hnb", "sb")
#: the shifted logits' floor before exp(): exp(-80) = 1.8e-35 is still a normal float32
_EXP_FLOOR = -80.0
#: the fast path's smallest row or column sum (below it the max-shifted form is used)
_MIN_SUM = 1e-20
#: ``F.normalize``'s floor on a row's norm
_NORM_EPS = 1e-12


@functools.lru_cache(maxsize=32)
def _positives(b: int, stride: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows and columns of the ``b`` positives in a ``(b, stride * b)`` logit matrix (made once
    per batch shape: a map's training step is a few dozen small operations, and these were four)."""
    rows = torch.arange(b, device=device)
    return rows, rows * stride


def _softmaxes(image: torch.Tensor, texts: torch.Tensor, scale: torch.Tensor, mask: torch.Tensor | None,
               stride: int) -> tuple[torch.Tensor, ...]:
    """Both softmaxes of the contrastive loss and the per-row cross-entropies.

    Returns ``p`` ``(B, SB)`` (image -> caption, over all captions), ``q`` ``(B, B)`` (positive
    caption -> image, over the images), and the cross-entropies ``(B,)`` of both directions.
    Inputs are L2-normalised, so every logit is at most the scale ``s``: the exponentials are
    taken of ``logit - s`` (the shift is folded into the matrix product, and no pass over the
    logits looks for row maxima). If a row or column would then underflow (every cosine far
    below 1 at a large scale), or the inputs were not normalised, the classical max-shifted
    form is used instead.
    """
    s = float(scale)
    rows, cols = _positives(image.shape[0], stride, image.device)
    e = torch.addmm(image.new_full((), -s), image, texts.T, alpha=s)  # logits - s
    pos = e[rows, cols]  # own captions' logits - s (a copy, before the floor below)
    # exp() of a value below about -87 is a subnormal float, which costs CPUs 10-30x more per
    # element: the shifted logits are floored at _EXP_FLOOR first (a term of at most 1.8e-35 for
    # one that would be smaller; the fast path below is taken only when every sum is at least
    # _MIN_SUM, so the floor adds at most (captions) x 1.8e-15 of any sum it keeps)
    e.clamp_(min=_EXP_FLOOR)
    if mask is not None:
        e.masked_fill_(mask, float("-inf"))
    e.exp_()
    z_r, z_c = e.sum(1), e[:, ::stride].sum(0)
    lo, hi = torch.cat([z_r, z_c]).aminmax()  # a NaN makes both NaN, and every comparison false
    if bool((lo >= _MIN_SUM) & (hi < float("inf"))):
        q = e[:, ::stride] / z_c
        return e.div_(z_r[:, None]), q, z_r.log_() - pos, z_c.log_() - pos
    logits = torch.mm(image.mul(s), texts.T)  # fallback: shift by the row and column maxima
    if mask is not None:
        logits.masked_fill_(mask, float("-inf"))
    block = logits[:, ::stride]
    pos = logits[rows, cols]
    lse_r, lse_c = torch.logsumexp(logits, 1), torch.logsumexp(block, 0)
    return (logits - lse_r[:, None]).exp_(), (block - lse_c[None, :]).exp_(), lse_r - pos, lse_c - pos


def _logit_gradient_(p: torch.Tensor, q: torch.Tensor, stride: int) -> torch.Tensor:
    """Turn ``p`` (``(B, SB)``, :func:`_softmaxes`' first) in place into the loss's gradient with
    respect to the logits times ``2B``: ``(p - onehot) + (q - onehot)`` on the positives' columns."""
    p[:, ::stride] += q
    p[_positives(p.shape[0], stride, p.device)] -= 2
    return p


class _ContrastiveLoss(torch.autograd.Function):
    """Forward and backward of the loss written out, so that each ``B x SB`` pass is done once.

    Autograd's two cross-entropies cost about twice as many passes over the logits (each
    log-softmax forward and backward, the gradient buffers of the strided column block, their
    sum) as the arithmetic needs. Here the forward pass keeps the two softmaxes, and the backward
    pass turns them in place into the logits' gradient and runs the two products. Only
    first-order gradients (``once_differentiable``); a second backward through the same graph
    is refused.
    """

    @staticmethod
    @torch.amp.custom_fwd(device_type="cuda", cast_inputs=torch.float32)  # softmaxes in fp32 under autocast
    def forward(ctx, image, texts, log_scale, mask):
        b = image.shape[0]
        stride = texts.shape[0] // b
        scale = log_scale.exp()
        p, q, ce_r, ce_c = _softmaxes(image, texts, scale, mask, stride)
        loss = (ce_r.mean() + ce_c.mean()) / 2
        correct = p[_positives(b, stride, image.device)] >= p.amax(1)  # the own caption ranks first (ties count as right)
        ctx.mark_non_differentiable(correct)
        ctx.save_for_backward(image, texts, scale)
        ctx.softmaxes = [p, q]
        return loss, correct

    @staticmethod
    @torch.amp.custom_bwd(device_type="cuda")
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_loss, _):
        if ctx.softmaxes is None:
            raise RuntimeError("the LABCLIP loss supports a single backward pass per forward")
        image, texts, scale = ctx.saved_tensors
        d, q = ctx.softmaxes  # d becomes (dloss / dlogits) * 2B in place
        ctx.softmaxes = None
        b = image.shape[0]
        d = _logit_gradient_(d, q, texts.shape[0] // b)
        coef = grad_loss * scale / (2 * b)
        g_image = g_texts = g_scale = None
        if ctx.needs_input_grad[1] or ctx.needs_input_grad[2]:
            g_texts = d.T @ image.mul(coef)  # (SB, D)
            if ctx.needs_input_grad[2]:  # dloss/dt = sum(dlogits * logits) = sum(g_texts * texts)
                g_scale = torch.dot(g_texts.reshape(-1), texts.reshape(-1))
        if ctx.needs_input_grad[0]:
            g_image = d @ texts.mul(coef)  # (B, D)
        return g_image, (g_texts if ctx.needs_input_grad[1] else None), g_scale, None


def _interleaved_loss(image: torch.Tensor, texts: torch.Tensor, log_scale: torch.Tensor,
                      mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The one implementation of :func:`hnb_loss` and :func:`sb_loss` (and the training step's).

    ``texts``: ``(2B, D)`` mapped captions interleaved ``[p_0, n_0, p_1, n_1, ...]`` (HNB) or
    ``(B, D)`` positives (SB). One matrix product gives all ``B x 2B`` logits (no
    concatenation); forward and backward are written out (:class:`_ContrastiveLoss`).
    ``mask``: ``(B, 2B)`` (or ``(B, B)``) false negatives, interleaved the same way, removed
    from both softmaxes. Returns the loss and a ``(B,)`` bool: which images rank their own
    caption first.
    """
    if len(texts) % len(image):
        raise ValueError(f"{len(texts)} caption rows is not a multiple of {len(image)} image rows")
    return _ContrastiveLoss.apply(image, texts, log_scale, mask)


def map_gradients(image: torch.Tensor, texts: torch.Tensor, weight: torch.Tensor, log_scale: torch.Tensor,
                  mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """One training step of the LABCLIP map, forward and backward written out (no autograd
    graph): :func:`_interleaved_loss` of ``image`` and the mapped, L2-normalised captions
    ``normalize(texts @ weight.T)``, and its gradients with respect to the map and the
    temperature. About half the time of autograd's step on CPU, where a 64 x 64 map's step is
    all overhead.

    ``image``: ``(B, D)``, L2-normalised; ``texts``: ``(SB, D)`` captions before the map,
    interleaved as :func:`_interleaved_loss` takes them; ``weight``: ``(D, D)``; ``log_scale``:
    ``()``; ``mask`` as for :func:`_interleaved_loss`. Returns the loss ``()``, which images rank
    their own caption first ``(B,)``, ``dloss/dweight`` ``(D, D)`` and ``dloss/dlog_scale`` ``()``;
    equal to autograd's through ``F.normalize`` and the loss (tests).
    """
    b = image.shape[0]
    stride = texts.shape[0] // b
    mapped = texts @ weight.T
    norm = torch.linalg.vector_norm(mapped, dim=1, keepdim=True)
    denom = norm.clamp_min(_NORM_EPS)
    z = mapped / denom
    scale = log_scale.exp()
    p, q, ce_r, ce_c = _softmaxes(image, z, scale, mask, stride)
    loss = (ce_r.mean() + ce_c.mean()) / 2
    correct = p[_positives(b, stride, image.device)] >= p.amax(1)
    g_z = _logit_gradient_(p, q, stride).T @ image.mul(scale / (2 * b))  # (SB, D)
    g_log_scale = torch.dot(g_z.reshape(-1), z.reshape(-1))  # dloss/dt = sum(dlogits * logits)
    # through the normalisation: the radial part drops out (not where the norm was floored)
    radial = (g_z * z).sum(1, keepdim=True).masked_fill_(norm < _NORM_EPS, 0.0)
    g_mapped = (g_z - z * radial) / denom
    return loss, correct, g_mapped.T @ texts, g_log_scale


def hnb_loss(image: torch.Tensor, positive: torch.Tensor, negative: torch.Tensor, log_scale: torch.Tensor,
             false_pos: torch.Tensor | None = None, false_neg: torch.Tensor | None = None) -> torch.Tensor:
    """The hard-negative batch loss of paper 1 (its code's ``constrastive_loss_with_negatives``).

    ``image, positive, negative``: ``(B, D)``, L2-normalised (the captions already mapped).
    Image -> text: cross-entropy over the ``2B`` captions ``[positives; negatives]`` with target
    the image's own positive; text -> image: each positive caption over the ``B`` images
    (negatives are never queries). ``log_scale`` is ``t``: logits are ``exp(t) * cosine``.
    ``false_pos`` / ``false_neg``: optional ``(B, B)`` bool masks of false negatives (column
    ``j`` is the same caption as row ``i``'s positive); they are removed from the softmax.
    """
    b = len(image)
    texts = torch.stack([positive, negative], dim=1).reshape(2 * b, -1)  # [p0, n0, p1, n1, ...]
    mask = None
    if false_pos is not None or false_neg is not None:
        none = torch.zeros(b, b, dtype=torch.bool, device=image.device)
        mask = torch.stack([none if false_pos is None else false_pos, none if false_neg is None else false_neg],
                           dim=2).reshape(b, 2 * b)
    return _interleaved_loss(image, texts, log_scale, mask)[0]


def sb_loss(image: torch.Tensor, positive: torch.Tensor, log_scale: torch.Tensor,
            false_pos: torch.Tensor | None = None) -> torch.Tensor:
    """Plain symmetric InfoNCE over ``B x B`` (paper 1's "SB" ablation); shapes as :func:`hnb_loss`."""
    return _interleaved_loss(image, positive, log_scale, false_pos)[0]


def duplicate_ids(*blocks: torch.Tensor, decimals: int = 5) -> list[torch.Tensor]:
    """Integer ids such that rows with the same (rounded) embedding share an id, across all blocks.

    Use it to find identical captions when their strings are not at hand: ``duplicate_ids(pos,
    neg)`` returns ``[(N,), (N,)]`` ids for the false-negative mask of :class:`LinearAlignment`.
    """
    x = torch.cat([torch.round(b.float() * 10**decimals) for b in blocks])
    _, inv = torch.unique(x, dim=0, return_inverse=True)
    return list(torch.split(inv, [len(b) for b in blocks]))
