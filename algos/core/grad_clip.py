"""Gradient-norm clipping per population member: `torch.nn.utils.clip_grad_norm_` for each member alone.

A norm over a whole population tensor would let one member's gradient shrink every other
member's step. Here member k's norm is taken over member k's slices only (the leading axis of
every parameter is the member, or member x copies in member-major order, as `MLP` lays them out),
and only member k's gradients are scaled by it.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch


@torch.no_grad()
def clip_grad_norm_per_member(parameters: Iterable[torch.Tensor], max_norm: float, members: int) -> torch.Tensor:
    """Scale each member's gradients by min(1, max_norm / (norm + 1e-6)), as torch's clip does; returns
    each member's gradient norm before clipping [K]. Parameters without a gradient are skipped."""
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return torch.zeros(members)
    norm = torch.stack([g.reshape(members, -1).square().sum(1) for g in grads]).sum(0).sqrt()
    scale = (max_norm / (norm + 1e-6)).clamp(max=1.0)
    for g in grads:
        g.view(members, -1).mul_(scale.unsqueeze(1))
    return norm
