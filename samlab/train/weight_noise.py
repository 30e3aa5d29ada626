"""Additive-noise training (SAMSON sec. 6.1, eq. 9, after Joshi et al. 2020): noisy weights in every training forward.

At each training step every Conv/Linear weight tensor ``W`` of layer ``l`` is read as ``W + N`` with
``N_ij ~ N(0, sigma_n^2)`` independent per weight and

    sigma_n = W_max^l * sigma_G / G_max                                     (eq. 9)

``W_max^l`` the layer's largest absolute weight (of the clean weights at the start of the step), ``sigma_G`` the
spread of the device conductances (0.94) and ``G_max`` their range (25), both measured on 1 million PCM
devices (Joshi et al.). The paper pairs it with clipping each tensor to ``+-alpha std(W)`` after every update
(:func:`samlab.weights.clip_weights_std`, alpha 2.0 on CIFAR), because ``sigma_n`` grows with ``W_max``.

Choices (the paper leaves them open; Joshi et al.'s recipe where it has one):

* **Gradients at the noisy weights update the clean weights** (Joshi et al.): the forward uses ``W + N``, the
  gradient ``dL/dW`` evaluated there is applied by the optimizer to ``W``. The noise never enters the stored
  weights: the forward substitutes ``W + N`` through ``torch.func.functional_call`` (the parameters themselves
  are not changed, so nothing has to be restored and no rounding can drift), and ``d(W + N)/dW = I`` makes the
  gradient exactly the one at the noisy weights.
* **One draw per optimizer step**, shared by every pass of that step: for SAM/ASAM/SAMSON the ascent pass
  (at ``W + N``), the descent pass (at ``W + eps + N``: ``eps`` is applied to the stored weights by the
  optimizer, the same ``N`` is added in the forward) and ESAM's selection pass. So the sharpness-aware step
  sees one noisy network and perturbs it; ``eps`` itself is computed from the gradient at the noisy weights
  and (ASAM, SAMSON) scaled by the clean stored weights ``|w|``, which are what the optimizer updates.
* The draws come from one ``torch.Generator`` on the training device, seeded from the run's ``seed`` (never
  torch's global RNG); its state is saved in every checkpoint, so a resumed run continues bit for bit.
  Biases and BatchNorm parameters stay noise-free (digital), as in the inference noise model (eq. 7-8).
* Reported training loss/accuracy are those of the noisy forward (what the optimizer saw).
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import torch
from torch import Tensor, nn

from ..checks import check_number
from ..weights import conv_linear_weights

__all__ = ["SIGMA_G", "G_MAX", "additive_noise_std", "draw_additive_noise", "AdditiveWeightNoise"]

#: Joshi et al.'s PCM device characteristics used by SAMSON sec. 6.1: conductance spread and range.
SIGMA_G, G_MAX = 0.94, 25.0


def _check_device_args(sigma_g: Any, g_max: Any) -> tuple[float, float]:
    return (check_number("sigma_g", sigma_g, low=0.0),
            check_number("g_max", g_max, low=0.0, low_open=True))


def additive_noise_std(weight: Tensor, sigma_g: float = SIGMA_G, g_max: float = G_MAX) -> float:
    """eq. 9: ``sigma_n = max|W| * sigma_G / G_max`` of one layer's weight tensor (a float)."""
    sigma_g, g_max = _check_device_args(sigma_g, g_max)
    if not isinstance(weight, Tensor) or weight.numel() == 0:
        raise ValueError(f"weight={weight!r} must be a non-empty tensor")
    return float(weight.detach().abs().max()) * sigma_g / g_max


def draw_additive_noise(weights: Sequence[Tensor], sigma_g: float, g_max: float,
                        generator: torch.Generator) -> list[Tensor]:
    """One draw of eq. 9's noise: per tensor ``sigma_n * z`` with ``z ~ N(0, 1)`` from ``generator``.

    ``sigma_n`` is taken from the tensor's current values; the fields are drawn in tensor order on the
    generator's device (float32), then cast to each tensor's device and dtype.
    """
    sigma_g, g_max = _check_device_args(sigma_g, g_max)
    if not isinstance(generator, torch.Generator):
        raise ValueError(f"generator={generator!r} must be a torch.Generator (samlab never draws from the global RNG)")
    out = []
    with torch.no_grad():
        for w in weights:
            sigma_n = w.detach().abs().max().to(torch.float32) * (sigma_g / g_max)
            z = torch.randn(tuple(w.shape), generator=generator, device=generator.device, dtype=torch.float32)
            out.append((z * sigma_n.to(z.device)).to(device=w.device, dtype=w.dtype))
    return out


class AdditiveWeightNoise:
    """Additive-noise training for one model: :meth:`step_forward` draws one noise per step and returns the forward.

    ``generator`` defaults to a CPU generator seeded with ``seed``. ``state_dict``/``load_state_dict`` carry the
    generator's state (the trainer stores it in the checkpoint).
    """

    def __init__(self, model: nn.Module, sigma_g: float = SIGMA_G, g_max: float = G_MAX, *, seed: int = 0,
                 generator: torch.Generator | None = None) -> None:
        if not isinstance(model, nn.Module):
            raise ValueError(f"model={model!r} must be a torch.nn.Module")
        self.sigma_g, self.g_max = _check_device_args(sigma_g, g_max)
        self.model = model
        weights = conv_linear_weights(model)
        if not weights:
            raise ValueError(f"model={type(model).__name__} has no Conv/Linear weight: additive-noise training (eq. 9) "
                             "acts on the weights of Conv1d/2d/3d and Linear layers only")
        names = {id(w): n for n, w in model.named_parameters()}
        self.weights = weights
        self.names = [names[id(w)] for w in weights]
        self.generator = generator if generator is not None else torch.Generator().manual_seed(int(seed))

    def draw(self) -> list[Tensor]:
        """The next noise draw, one tensor per Conv/Linear weight (eq. 9, ``sigma_n`` of the current weights)."""
        return draw_additive_noise(self.weights, self.sigma_g, self.g_max, self.generator)

    def forward_with(self, noise: Sequence[Tensor]) -> Callable[[Tensor], Tensor]:
        """``f(x)``: the model's forward with every Conv/Linear weight read as ``W + noise`` (``W`` the stored value
        at call time, so an optimizer's ``eps`` on the stored weights is included); gradients flow to ``W``."""
        noise = list(noise)
        if len(noise) != len(self.weights):
            raise ValueError(f"noise must have one tensor per Conv/Linear weight ({len(self.weights)}), got {len(noise)}")

        def forward(x: Tensor) -> Tensor:
            params = {n: w + z for n, w, z in zip(self.names, self.weights, noise)}
            return torch.func.functional_call(self.model, params, (x,), strict=False)

        return forward

    def step_forward(self) -> Callable[[Tensor], Tensor]:
        """Draw this step's noise and return the noisy forward (every pass of the step shares the draw)."""
        return self.forward_with(self.draw())

    def state_dict(self) -> dict[str, Any]:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.set_state(state["generator"])
