"""bf16 training on CPU: a bf16 copy of the model computes, fp32 master weights learn.

Autocast on CPU keeps the weights and the residual stream in float32 and casts every linear
layer's input and weight to bf16 and its output back: those copies took about 15 % of a training
step of e5-small here. :class:`Bf16Shadow` instead runs the forward and backward pass on a bf16
copy of the model (activations, LayerNorm and softmax in bf16; PyTorch's CPU kernels accumulate
them in float32) and keeps the float32 model as the master copy: before each forward pass the
masters are copied into the shadow, after each backward pass its gradients are added to the
masters' in float32, where clipping, AdamW, checkpoints and dev scoring see them as before. The
shadow holds no state of its own, so a resumed run continues exactly.
"""

from __future__ import annotations

import copy

import torch


class Bf16Shadow:
    """A bf16 copy of ``model`` that computes the gradients of ``model``'s float32 parameters.

    Example:
        >>> shadow = Bf16Shadow(model)  # doctest: +SKIP
        >>> shadow.load_masters()  # doctest: +SKIP
        >>> loss_fn(shadow.module(batch)).backward()  # doctest: +SKIP
        >>> shadow.add_gradients_to_masters()  # doctest: +SKIP
        >>> optimizer.step()  # doctest: +SKIP
    """

    def __init__(self, model: torch.nn.Module) -> None:
        self.masters = [p for p in model.parameters() if p.requires_grad]
        self.module = copy.deepcopy(model).to(torch.bfloat16)
        # accelerate wraps a prepared model's forward in autocast (an instance attribute that
        # deepcopy keeps): the shadow computes in bf16 without it.
        self.module.__dict__.pop("forward", None)
        self.module.__dict__.pop("_original_forward", None)
        self.module.train(model.training)
        shadows = dict(self.module.named_parameters())
        self.shadows = [shadows[name] for name, p in model.named_parameters() if p.requires_grad]

    @torch.no_grad()
    def load_masters(self) -> None:
        """Copy the float32 master weights into the bf16 shadow (rounded to nearest)."""
        torch._foreach_copy_(self.shadows, self.masters)

    @torch.no_grad()
    def add_gradients_to_masters(self) -> None:
        """Add the shadow's gradients to the masters' (float32) and clear the shadow's."""
        for master, shadow in zip(self.masters, self.shadows, strict=True):
            if shadow.grad is None:
                continue
            if master.grad is None:
                master.grad = shadow.grad.to(torch.float32)
            else:
                master.grad.add_(shadow.grad)
            shadow.grad = None
