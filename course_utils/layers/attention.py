"""Scaled dot-product attention and multi-head attention, from scratch.

Attention lets every position of a sequence build its output as a weighted average of the
values of all positions it may see; the weights come from how well its query matches their
keys (Vaswani et al., 2017):

    weights = softmax(q @ k^T * scale + mask),   output = weights @ v,   scale = 1 / sqrt(E)

The lesson's lines are `attention` (scores, scale, masks, softmax, weighted sum) and
`split_heads`, `merge_heads`, `multi_head_attention` (project, split, attend, merge, project):
notebook 07 shows them in editable cells, and a test keeps those cells identical to this file.
They check nothing. The public entry points check their arguments, then call them:
`scaled_dot_product_attention` is the from-scratch version of
`torch.nn.functional.scaled_dot_product_attention` that also returns the weights (which is
what the course draws), and `MultiHeadAttention` runs it on `num_heads` smaller projections in
parallel, like `torch.nn.MultiheadAttention(batch_first=True)`.

Masks follow PyTorch's SDPA: a boolean mask says where a query MAY attend (True = allowed);
a floating mask is added to the scores (use -inf to block). Beware: `nn.MultiheadAttention`'s
own boolean `attn_mask` has the opposite meaning (True = blocked).
"""

from __future__ import annotations

import math

import torch
from torch import nn


def causal_mask(
    num_queries: int, num_keys: int | None = None, *, device: torch.device | str | None = None
) -> torch.Tensor:
    """The boolean mask of causal attention: query i may attend to keys 0..i.

    Args:
        num_queries: L, the number of query positions.
        num_keys: S, the number of key positions (default L). When L != S the mask is aligned
            top-left, as in `F.scaled_dot_product_attention(is_causal=True)`.
        device: where to create the mask.

    Returns:
        A bool tensor of shape (L, S), True on and below the diagonal.
    """
    num_keys = num_queries if num_keys is None else num_keys
    for pname, value in (("num_queries", num_queries), ("num_keys", num_keys)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"causal_mask: {pname} must be a positive int, got {value!r}")
    return torch.ones(num_queries, num_keys, dtype=torch.bool, device=device).tril()


def attention(q, k, v, mask=None, causal=False, scale=None):
    """softmax(q k^T * scale + mask) v, and the weights: q (..., L, E), k (..., S, E), v (..., S, Ev)."""
    scale = 1 / math.sqrt(q.shape[-1]) if scale is None else scale  # keeps the scores' variance near 1
    scores = (q @ k.transpose(-2, -1)) * scale  # (..., L, S): how well key j matches query i
    if mask is not None and mask.dtype == torch.bool:
        scores = scores.masked_fill(~mask, float("-inf"))  # True = may attend; exp(-inf) = 0 blocks the rest
    elif mask is not None:
        scores = scores + mask.to(scores.dtype)  # a float mask is added to the scores (-inf blocks)
    if causal:
        future = torch.ones(q.shape[-2], k.shape[-2], dtype=torch.bool, device=q.device).triu(1)  # key j > query i
        scores = scores.masked_fill(future, float("-inf"))
    # A row with every key blocked would be softmax(-inf, ..., -inf) = 0/0 = NaN. Give it scores
    # of 0 (any finite value works), then zero its weights: its output is 0 and its gradients finite.
    blocked_row = torch.isneginf(scores).all(dim=-1, keepdim=True)  # (..., L, 1)
    scores = scores.masked_fill(blocked_row, 0.0)
    weights = torch.softmax(scores, dim=-1).masked_fill(blocked_row, 0.0)  # (..., L, S): rows sum to 1 (or 0)
    return weights @ v, weights  # (..., L, Ev): row i is a weighted average of the values


def split_heads(x, num_heads):
    """(B, T, E) -> (B, H, T, E / H): each head gets its own slice of the projected features."""
    batch, length, embed_dim = x.shape
    return x.view(batch, length, num_heads, embed_dim // num_heads).transpose(1, 2)


def merge_heads(x):
    """(B, H, T, D) -> (B, T, H * D): the heads' outputs side by side again."""
    batch, num_heads, length, head_dim = x.shape
    return x.transpose(1, 2).reshape(batch, length, num_heads * head_dim)


def multi_head_attention(mha, query, key, value, mask=None, causal=False):
    """Project, split into heads, attend in every head at once, merge, project: (B, L, E) -> (B, L, E)."""
    q = split_heads(mha.q_proj(query), mha.num_heads)  # (B, H, L, D), D = E / H
    k = split_heads(mha.k_proj(key), mha.num_heads)  # (B, H, S, D)
    v = split_heads(mha.v_proj(value), mha.num_heads)  # (B, H, S, D)
    out, weights = attention(q, k, v, mask, causal)  # (B, H, L, D), (B, H, L, S)
    return mha.out_proj(merge_heads(out)), weights  # (B, L, E): W^O mixes the heads


def _check_attention_inputs(q, k, v, mask, causal, scale) -> None:
    """Raise a ValueError that names the offending argument and the shapes involved."""
    for pname, t in (("q", q), ("k", k), ("v", v)):
        if not isinstance(t, torch.Tensor):
            raise ValueError(f"scaled_dot_product_attention: {pname} must be a torch.Tensor, got {type(t).__name__}")
        if t.dim() < 2:
            raise ValueError(
                f"scaled_dot_product_attention: {pname} must have at least 2 dimensions "
                f"(..., length, features), got shape {tuple(t.shape)}"
            )
        if not t.is_floating_point():
            raise ValueError(f"scaled_dot_product_attention: {pname} must be floating point, got dtype {t.dtype}")
    if not q.dtype == k.dtype == v.dtype:
        raise ValueError(
            f"scaled_dot_product_attention: q, k and v must share a dtype, got {q.dtype}, {k.dtype}, {v.dtype}"
        )
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(
            f"scaled_dot_product_attention: q and k must have the same last dimension (E), "
            f"got q {tuple(q.shape)} and k {tuple(k.shape)}"
        )
    if k.shape[-2] != v.shape[-2]:
        raise ValueError(
            f"scaled_dot_product_attention: k and v must have the same length (S, dimension -2), "
            f"got k {tuple(k.shape)} and v {tuple(v.shape)}"
        )
    try:
        batch = torch.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
    except RuntimeError:
        raise ValueError(
            f"scaled_dot_product_attention: the batch dimensions of q {tuple(q.shape[:-2])}, "
            f"k {tuple(k.shape[:-2])} and v {tuple(v.shape[:-2])} cannot be broadcast together "
            f"(full shapes q {tuple(q.shape)}, k {tuple(k.shape)}, v {tuple(v.shape)})"
        ) from None
    _check_mask("scaled_dot_product_attention", mask, (*batch, q.shape[-2], k.shape[-2]), q.shape, k.shape)
    if not isinstance(causal, bool):
        raise ValueError(f"scaled_dot_product_attention: causal must be True or False, got {type(causal).__name__}")
    if scale is not None:
        if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not math.isfinite(scale) or scale <= 0:
            raise ValueError(
                f"scaled_dot_product_attention: scale must be None or a positive finite number, got {scale!r}"
            )


def _check_mask(owner: str, mask, scores_shape: tuple, q_shape, k_shape) -> None:
    """Raise a ValueError unless `mask` is None or a bool/float tensor that broadcasts to `scores_shape`."""
    if mask is None:
        return
    if not isinstance(mask, torch.Tensor):
        raise ValueError(f"{owner}: mask must be None or a torch.Tensor, got {type(mask).__name__}")
    if mask.dtype != torch.bool and not mask.is_floating_point():
        raise ValueError(
            f"{owner}: mask must be boolean (True = may attend) or floating (added to the scores), got dtype {mask.dtype}"
        )
    try:
        fits = torch.broadcast_shapes(mask.shape, scores_shape) == torch.Size(scores_shape)
    except RuntimeError:
        fits = False
    if not fits:
        raise ValueError(
            f"{owner}: mask of shape {tuple(mask.shape)} cannot be broadcast to the scores' shape "
            f"{tuple(scores_shape)} (..., L, S) for q {tuple(q_shape)} and k {tuple(k_shape)}"
        )


def scaled_dot_product_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor | None = None,
    causal: bool = False,
    scale: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """softmax(q k^T * scale + mask) v, returning the output and the attention weights.

    Args:
        q: queries, shape (..., L, E).
        k: keys, shape (..., S, E).
        v: values, shape (..., S, Ev).
        mask: optional, broadcastable to (..., L, S). Boolean: True where a query may attend
            (as in `F.scaled_dot_product_attention`); floating: added to the scores (-inf blocks).
        causal: also block keys after the query's position (top-left aligned when L != S).
            May be combined with `mask`: a key must be allowed by both.
        scale: multiplies the scores; default 1 / sqrt(E). A smaller scale (a higher
            temperature) flattens the weights, a larger one sharpens them.

    Returns:
        `(output, weights)`: output of shape (..., L, Ev) and weights of shape (..., L, S),
        each row of weights summing to 1.

    A query whose keys are all blocked (a fully masked row) gets weights of 0 and an output of
    0, as PyTorch's SDPA gives on the CPU, and its gradients stay finite (no NaN from 0/0).

    Raises:
        ValueError: when q, k, v or the mask is not a tensor (of a floating or boolean dtype), their
            shapes do not fit together, causal is not a bool, or scale is not a positive number.
    """
    _check_attention_inputs(q, k, v, mask, causal, scale)
    return attention(q, k, v, mask, causal, None if scale is None else float(scale))


def _positive_int(owner: str, pname: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{owner}: {pname} must be a positive int, got {value!r}")
    return value


class MultiHeadAttention(nn.Module):
    """Multi-head attention over (batch, length, embed_dim) tensors, like nn.MultiheadAttention(batch_first=True)."""

    def __init__(
        self, embed_dim: int, num_heads: int, bias: bool = True, kdim: int | None = None, vdim: int | None = None
    ):
        """
        Args:
            embed_dim: E, the size of queries and of the output; split into `num_heads` heads
                of `embed_dim // num_heads` features each.
            num_heads: H, how many attention patterns run in parallel; must divide embed_dim.
            bias: give the four projections (query, key, value, output) a bias.
            kdim, vdim: feature sizes of the key and value inputs (default embed_dim).
        """
        super().__init__()
        _positive_int("MultiHeadAttention", "embed_dim", embed_dim)
        _positive_int("MultiHeadAttention", "num_heads", num_heads)
        if embed_dim % num_heads:
            raise ValueError(
                f"MultiHeadAttention: embed_dim ({embed_dim}) must be divisible by num_heads ({num_heads}); "
                f"try num_heads in {[h for h in range(1, embed_dim + 1) if embed_dim % h == 0]}"
            )
        if not isinstance(bias, bool):
            raise ValueError(f"MultiHeadAttention: bias must be True or False, got {bias!r}")
        self.embed_dim, self.num_heads = embed_dim, num_heads
        self.head_dim = embed_dim // num_heads
        self.kdim = embed_dim if kdim is None else _positive_int("MultiHeadAttention", "kdim", kdim)
        self.vdim = embed_dim if vdim is None else _positive_int("MultiHeadAttention", "vdim", vdim)
        self.q_proj = nn.Linear(embed_dim, embed_dim, bias=bias)
        self.k_proj = nn.Linear(self.kdim, embed_dim, bias=bias)
        self.v_proj = nn.Linear(self.vdim, embed_dim, bias=bias)
        self.out_proj = nn.Linear(embed_dim, embed_dim, bias=bias)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Xavier-uniform projections and zero biases, the initialisation nn.MultiheadAttention uses."""
        for proj in (self.q_proj, self.k_proj, self.v_proj):
            nn.init.xavier_uniform_(proj.weight)
        nn.init.xavier_uniform_(self.out_proj.weight)
        for proj in (self.q_proj, self.k_proj, self.v_proj, self.out_proj):
            if proj.bias is not None:
                nn.init.zeros_(proj.bias)

    @torch.no_grad()
    def load_from_torch(self, module: nn.MultiheadAttention) -> MultiHeadAttention:
        """Copy the weights of a `torch.nn.MultiheadAttention` of the same sizes (to compare the two); returns self."""
        if not isinstance(module, nn.MultiheadAttention):
            raise ValueError(
                f"MultiHeadAttention.load_from_torch: module must be an nn.MultiheadAttention, "
                f"got {type(module).__name__}"
            )
        theirs = (module.embed_dim, module.num_heads, module.kdim, module.vdim, module.in_proj_bias is not None)
        ours = (self.embed_dim, self.num_heads, self.kdim, self.vdim, self.q_proj.bias is not None)
        if theirs != ours:
            raise ValueError(
                f"MultiHeadAttention.load_from_torch: sizes differ: (embed_dim, num_heads, kdim, vdim, bias) "
                f"is {ours} here and {theirs} in the module"
            )
        if module.bias_k is not None or module.bias_v is not None:
            raise ValueError("MultiHeadAttention.load_from_torch: add_bias_kv=True has no counterpart here")
        if module._qkv_same_embed_dim:  # one packed (3E, E) matrix: rows are q, then k, then v
            w_q, w_k, w_v = module.in_proj_weight.chunk(3)
        else:
            w_q, w_k, w_v = module.q_proj_weight, module.k_proj_weight, module.v_proj_weight
        for proj, w in ((self.q_proj, w_q), (self.k_proj, w_k), (self.v_proj, w_v)):
            proj.weight.copy_(w)
        self.out_proj.weight.copy_(module.out_proj.weight)
        if module.in_proj_bias is not None:
            for proj, b in zip((self.q_proj, self.k_proj, self.v_proj), module.in_proj_bias.chunk(3)):
                proj.bias.copy_(b)
            self.out_proj.bias.copy_(module.out_proj.bias)
        return self

    def forward(
        self,
        query: torch.Tensor,
        key: torch.Tensor | None = None,
        value: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
        causal: bool = False,
        need_weights: bool = True,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Attend from `query` to `key`/`value` (self-attention when they are omitted).

        Args:
            query: (B, L, embed_dim).
            key: (B, S, kdim); default `query`.
            value: (B, S, vdim); default `key`.
            mask: optional, broadcastable to (B, H, L, S), e.g. (L, S) or (B, 1, 1, S) for padding.
                Boolean: True = may attend (the opposite of nn.MultiheadAttention's attn_mask);
                floating: added to the scores.
            causal: block keys after each query's position.
            need_weights: return the per-head weights; otherwise return None in their place.

        Returns:
            `(output, weights)`: output (B, L, embed_dim); weights (B, H, L, S), or None.
            `weights.mean(dim=1)` is what nn.MultiheadAttention returns by default.
        """
        key = query if key is None else key
        value = key if value is None else value
        for pname, t, features in (
            ("query", query, self.embed_dim),
            ("key", key, self.kdim),
            ("value", value, self.vdim),
        ):
            if not isinstance(t, torch.Tensor):
                raise ValueError(f"MultiHeadAttention: {pname} must be a torch.Tensor, got {type(t).__name__}")
            if t.dim() != 3 or t.shape[-1] != features:
                raise ValueError(
                    f"MultiHeadAttention: {pname} must have shape (batch, length, {features}), got {tuple(t.shape)}"
                )
        if query.shape[0] != key.shape[0] or key.shape[:2] != value.shape[:2]:
            raise ValueError(
                f"MultiHeadAttention: query, key and value must share the batch size, and key and value "
                f"the length; got query {tuple(query.shape)}, key {tuple(key.shape)}, value {tuple(value.shape)}"
            )
        if not isinstance(causal, bool):
            raise ValueError(f"MultiHeadAttention: causal must be True or False, got {type(causal).__name__}")
        scores_shape = (query.shape[0], self.num_heads, query.shape[1], key.shape[1])
        _check_mask("MultiHeadAttention", mask, scores_shape, query.shape, key.shape)
        out, weights = multi_head_attention(self, query, key, value, mask, causal)  # (B, L, E), (B, H, L, S)
        return out, (weights if need_weights else None)

    def extra_repr(self) -> str:
        return f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, head_dim={self.head_dim}"
