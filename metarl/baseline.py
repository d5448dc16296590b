"""Linear feature baseline (Duan et al. 2016), one ridge regression per task, batched.

``V(s_t) = w_n · φ(s_t, t)`` with
``φ = [clip(s, ±10), clip(s, ±10)², t/100, (t/100)², (t/100)³, 1]``,
``w_n = argmin_w Σ_valid (w·φ - G_t)² + ridge ||w||²`` fitted on task ``n``'s episodes.
"""

from __future__ import annotations

import torch


def features(obs: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """``obs`` ``[..., obs_dim]`` and time index ``t`` ``[...]`` -> ``[..., 2 * obs_dim + 4]``."""
    o = obs.clamp(-10, 10)
    al = (t / 100.0).unsqueeze(-1)
    return torch.cat([o, o * o, al, al**2, al**3, torch.ones_like(al)], dim=-1)


def fit(
    phi: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor, ridge: float
) -> torch.Tensor:
    """Weighted ridge regression per task.

    ``phi`` ``[N, M, F]``, ``targets`` and ``weights`` ``[N, M]`` -> coefficients ``[N, F]``.
    Solves ``(Φᵀ W Φ + ridge I) w = Φᵀ W G`` in float64 by Cholesky (differentiably: MeRL
    takes gradients through it) and returns ``targets``' dtype; if the matrix is not positive
    definite in floating point the ridge grows ×10 (up to five times), as rllab's baseline does.
    Cholesky, not LU: besides suiting a symmetric positive-definite matrix, torch's batched LU
    solve on CPU hangs inside MKL with two or more threads once ``F`` is about 200 or more
    (pytorch/pytorch#142815; the Ant families have ``F = 242``).
    """
    dtype = targets.dtype
    phi, targets, weights = phi.double(), targets.double(), weights.double()
    gram = phi.transpose(1, 2) @ (phi * weights.unsqueeze(-1))
    rhs = phi.transpose(1, 2) @ (weights * targets).unsqueeze(-1)
    eye = torch.eye(phi.shape[-1], dtype=torch.float64)
    for _ in range(6):
        chol, info = torch.linalg.cholesky_ex(gram + ridge * eye)
        if (info == 0).all():
            coef = torch.cholesky_solve(rhs, chol)
            if torch.isfinite(coef).all():
                return coef.squeeze(-1).to(dtype)
        ridge *= 10
    raise FloatingPointError(
        "linear baseline: the regression stayed singular with ridge up to 1e5x"
    )


def predict(coef: torch.Tensor, phi: torch.Tensor) -> torch.Tensor:
    """``coef`` ``[N, F]``, ``phi`` ``[N, M, F]`` -> values ``[N, M]``."""
    return (phi @ coef.unsqueeze(-1)).squeeze(-1)
