"""A tiny GPT: a pre-norm transformer usable causally (next token) or bidirectionally (masked LM).

Read top to bottom like nanoGPT's model.py (Karpathy, 2022), which it follows: token and
position embeddings, blocks of attention + MLP with LayerNorm before each and a residual around
each, a final LayerNorm and a language-model head that shares its weights with the token
embedding. Two additions for the course: every block has two adapter slots (`nn.Identity` until
`course_utils.layers.add_adapters` fills them), and an optional classification head on a pooled
representation, used to fine-tune on a labelled task.

Shapes: B batch, T time (tokens), C channels (n_embd), nh heads, hs head size (C // nh), V vocab.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

POOLINGS = ("auto", "last", "mean")


@dataclass
class GPTConfig:
    """The shape of a TinyGPT; stored as a plain dict in checkpoints."""

    vocab_size: int = 180  # tokens in the vocabulary (tokenizer.vocab_size)
    block_size: int = 64  # longest sequence the model reads (its context length)
    n_layer: int = 2  # transformer blocks
    n_head: int = 4  # attention heads per block; must divide n_embd
    n_embd: int = 64  # width C of every token's vector
    dropout: float = 0.0  # dropout on embeddings, attention and residual branches (0 for tiny data)
    bias: bool = True  # biases in Linear layers and LayerNorms
    causal: bool = True  # True: each token sees only the past (GPT); False: sees all (BERT, masked LM)
    n_classes: int = 0  # > 0 adds a classification head of that many classes
    pad_id: int = 0  # padding token id: skipped by pooling, and by attention when bidirectional
    pooling: str = "auto"  # sequence summary for features(): "last" token, "mean" of tokens, or "auto"

    def __post_init__(self):
        for name in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"GPTConfig: {name} must be a positive int, got {value!r}")
        if self.n_embd % self.n_head:
            raise ValueError(f"GPTConfig: n_head must divide n_embd, got n_embd={self.n_embd}, n_head={self.n_head}")
        if not isinstance(self.dropout, (int, float)) or not 0 <= self.dropout < 1:
            raise ValueError(f"GPTConfig: dropout must be in [0, 1), got {self.dropout!r}")
        if isinstance(self.n_classes, bool) or not isinstance(self.n_classes, int) or self.n_classes < 0:
            raise ValueError(
                f"GPTConfig: n_classes must be an int >= 0 (0 = no classification head), got {self.n_classes!r}"
            )
        if not isinstance(self.pad_id, int) or not 0 <= self.pad_id < self.vocab_size:
            raise ValueError(f"GPTConfig: pad_id must be an int in [0, vocab_size), got {self.pad_id!r}")
        if self.pooling not in POOLINGS:
            raise ValueError(f"GPTConfig: pooling must be one of {POOLINGS}, got {self.pooling!r}")

    def to_dict(self) -> dict:
        """Plain types only, so `torch.load(weights_only=True)` can read it back."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> GPTConfig:
        """The inverse of `to_dict`; unknown keys are an error."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"GPTConfig.from_dict: unknown field(s) {unknown}; known: {sorted(names)}")
        return cls(**d)


class SelfAttention(nn.Module):
    """Multi-head self-attention with one fused projection for queries, keys and values."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.resid_dropout = nn.Dropout(config.dropout)
        self.n_head = config.n_head
        self.dropout = config.dropout
        self.causal = config.causal

    def forward(self, x: torch.Tensor, key_mask: torch.Tensor | None = None) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)  # each (B, T, C)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
        # key_mask (B, 1, 1, T), True where a key may be attended to; only used bidirectionally,
        # since right-padding is never in a causal token's past.
        y = F.scaled_dot_product_attention(
            q, k, v, attn_mask=key_mask, is_causal=self.causal, dropout_p=self.dropout if self.training else 0.0
        )  # (B, nh, T, hs)
        y = y.transpose(1, 2).contiguous().view(B, T, C)  # heads side by side again: (B, T, C)
        return self.resid_dropout(self.c_proj(y))

    def attention_weights(self, x: torch.Tensor, key_mask: torch.Tensor | None = None) -> torch.Tensor:
        """The softmax weights the fused call in `forward` uses, written out: x (B, T, C) -> (B, nh, T, T).

        Row t of head h holds how much query t takes from each key. Same projections and masks as
        `forward`; attention dropout (training only) is not applied.
        """
        B, T, C = x.shape
        q, k, _ = self.c_attn(x).split(C, dim=2)  # each (B, T, C)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
        scores = q @ k.transpose(-2, -1) / math.sqrt(C // self.n_head)  # (B, nh, T, T)
        if self.causal:
            future = torch.ones(T, T, dtype=torch.bool, device=x.device).triu(1)  # (T, T): key after query
            scores = scores.masked_fill(future, float("-inf"))
        if key_mask is not None:
            scores = scores.masked_fill(~key_mask, float("-inf"))
        return F.softmax(scores, dim=-1)  # (B, nh, T, T), each row sums to 1


class MLP(nn.Module):
    """Position-wise feed-forward network: widen 4x, GELU, narrow back."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.gelu = nn.GELU()
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))  # (B, T, C)


class Block(nn.Module):
    """Pre-norm transformer block: x + attn(ln(x)), then x + mlp(ln(x)), with two adapter slots."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.attn = SelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.mlp = MLP(config)
        # Identity until add_adapters() puts an Adapter on each branch, before the residual add
        # (where Houlsby et al. 2019 place them).
        self.adapter_attn: nn.Module = nn.Identity()
        self.adapter_mlp: nn.Module = nn.Identity()

    def forward(self, x: torch.Tensor, key_mask: torch.Tensor | None = None) -> torch.Tensor:
        x = x + self.adapter_attn(self.attn(self.ln_1(x), key_mask))  # (B, T, C)
        x = x + self.adapter_mlp(self.mlp(self.ln_2(x)))  # (B, T, C)
        return x


class TinyGPT(nn.Module):
    """A small GPT (or, with causal=False, a small BERT) with an optional classification head."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        if not isinstance(config, GPTConfig):
            raise TypeError(f"TinyGPT: config must be a GPTConfig, got {type(config).__name__}")
        self.config = config
        self.transformer = nn.ModuleDict(
            dict(
                wte=nn.Embedding(config.vocab_size, config.n_embd),  # token embedding
                wpe=nn.Embedding(config.block_size, config.n_embd),  # position embedding
                drop=nn.Dropout(config.dropout),
                h=nn.ModuleList([Block(config) for _ in range(config.n_layer)]),
                ln_f=nn.LayerNorm(config.n_embd, bias=config.bias),
            )
        )
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        # Weight tying (Press & Wolf, 2017): a token's input vector is also its output vector,
        # so words used alike get alike vectors from both ends.
        self.lm_head.weight = self.transformer.wte.weight
        self.classifier = nn.Linear(config.n_embd, config.n_classes) if config.n_classes else None
        self.apply(self._init_weights)
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):  # GPT-2's scaled init of the residual projections
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def add_classifier(self, n_classes: int) -> nn.Linear:
        """Attach a fresh classification head of `n_classes` outputs (replacing any old one)."""
        if isinstance(n_classes, bool) or not isinstance(n_classes, int) or n_classes < 1:
            raise ValueError(f"add_classifier: n_classes must be a positive int, got {n_classes!r}")
        self.config = dataclasses.replace(self.config, n_classes=n_classes)
        device = self.transformer.wte.weight.device
        self.classifier = nn.Linear(self.config.n_embd, n_classes).to(device)
        self._init_weights(self.classifier)
        return self.classifier

    def _check_idx(self, idx: torch.Tensor, check_length: bool = True) -> None:
        if not isinstance(idx, torch.Tensor) or idx.dim() != 2 or idx.dtype != torch.long:
            raise TypeError("TinyGPT: idx must be a LongTensor of shape (B, T)")
        if check_length and idx.shape[1] > self.config.block_size:
            raise ValueError(f"TinyGPT: sequence length {idx.shape[1]} exceeds block_size {self.config.block_size}")

    def _embed(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Token + position embeddings (B, T, C), and the key mask the blocks use (or None)."""
        B, T = idx.shape
        pos = torch.arange(T, device=idx.device)  # (T,)
        x = self.transformer.drop(self.transformer.wte(idx) + self.transformer.wpe(pos))  # (B, T, C)
        key_mask = None
        if not self.config.causal and bool((idx == self.config.pad_id).any()):
            key_mask = (idx != self.config.pad_id)[:, None, None, :]  # (B, 1, 1, T): don't attend to padding
            key_mask = key_mask | ~key_mask.any(-1, keepdim=True)  # an all-padding row attends to all (no NaN)
        return x, key_mask

    def hidden(self, idx: torch.Tensor) -> torch.Tensor:
        """Final hidden states, after the last LayerNorm: idx (B, T) -> (B, T, C)."""
        self._check_idx(idx)
        x, key_mask = self._embed(idx)
        for block in self.transformer.h:
            x = block(x, key_mask)
        return self.transformer.ln_f(x)  # (B, T, C)

    def attention_weights(self, idx: torch.Tensor) -> torch.Tensor:
        """The attention weights of every layer and head, as the forward pass computes them.

        The forward pass calls the fused `F.scaled_dot_product_attention`, which never shows its
        weights; this runs the same blocks and, at each one, recomputes the queries and keys with
        the same modules and writes the softmax out (`SelfAttention.attention_weights`). The model
        is put in eval mode for the call (no dropout) and restored afterwards.

        Args:
            idx: token ids, one sequence (T,) or a batch (B, T), LongTensor, T <= block_size.

        Returns:
            (n_layer, n_head, T, T) for one sequence, (B, n_layer, n_head, T, T) for a batch.
            Entry [l, h, t, s] is how much query position t attends to key position s in head h
            of layer l; each row sums to 1, and a causal model's upper triangle (s > t) is 0.
        """
        if not isinstance(idx, torch.Tensor) or idx.dtype != torch.long or idx.dim() not in (1, 2):
            got = f"{idx.dtype} of shape {tuple(idx.shape)}" if isinstance(idx, torch.Tensor) else type(idx).__name__
            raise TypeError(f"TinyGPT.attention_weights: idx must be a LongTensor of shape (T,) or (B, T), got {got}")
        if idx.shape[-1] < 1 or idx.shape[-1] > self.config.block_size:
            raise ValueError(
                f"TinyGPT.attention_weights: sequence length must be in [1, block_size={self.config.block_size}], "
                f"got {idx.shape[-1]}"
            )
        single = idx.dim() == 1
        idx = idx[None] if single else idx  # (B, T)
        was_training = self.training
        self.eval()
        try:
            x, key_mask = self._embed(idx)
            weights = []
            for block in self.transformer.h:
                weights.append(block.attn.attention_weights(block.ln_1(x), key_mask))  # (B, nh, T, T)
                x = block(x, key_mask)
        finally:
            self.train(was_training)
        out = torch.stack(weights, dim=1)  # (B, n_layer, nh, T, T)
        return out[0] if single else out

    def forward(
        self, idx: torch.Tensor, targets: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Language-model logits, and the loss when targets are given.

        Args:
            idx: token ids (B, T), T <= block_size.
            targets: (B, T) ids to predict at each position (the next token for a causal model, the
                original token for masked LM), -100 where nothing is to be predicted; or None.

        Returns:
            logits (B, T, V) and the mean cross-entropy over predicted positions (None without targets).
        """
        logits = self.lm_head(self.hidden(idx))  # (B, T, V)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.reshape(-1), ignore_index=-100)
        return logits, loss

    def features(self, idx: torch.Tensor, pooling: str | None = None) -> torch.Tensor:
        """One vector per sequence: idx (B, T) -> (B, C), padding (pad_id) excluded.

        "last" takes the last non-padding token, which a causal model has let read the whole
        sequence; "mean" averages the non-padding tokens. "auto" (the config's default) is "last"
        for a causal model and "mean" for a bidirectional one. Sequences must be right-padded.
        """
        pooling = pooling or self.config.pooling
        if pooling not in POOLINGS:
            raise ValueError(f"TinyGPT.features: pooling must be one of {POOLINGS}, got {pooling!r}")
        if pooling == "auto":
            pooling = "last" if self.config.causal else "mean"
        h = self.hidden(idx)  # (B, T, C)
        real = idx != self.config.pad_id  # (B, T)
        if pooling == "mean":
            w = real.to(h.dtype).unsqueeze(-1)  # (B, T, 1)
            return (h * w).sum(1) / w.sum(1).clamp(min=1.0)  # (B, C)
        last = (real.sum(1) - 1).clamp(min=0)  # (B,) index of the last real token (right padding)
        return h[torch.arange(idx.shape[0], device=idx.device), last]  # (B, C)

    def classify(self, idx: torch.Tensor) -> torch.Tensor:
        """Class logits from the pooled features: idx (B, T) -> (B, n_classes)."""
        if self.classifier is None:
            raise ValueError(
                "TinyGPT.classify: this model has no classification head; "
                "set GPTConfig.n_classes or call add_classifier(n_classes)"
            )
        return self.classifier(self.features(idx))

    @torch.no_grad()
    def generate(
        self,
        idx: torch.Tensor,
        max_new_tokens: int,
        temperature: float = 1.0,
        top_k: int | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Continue each sequence by sampling one token at a time (causal models only).

        Args:
            idx: the prompt, token ids (B, T).
            max_new_tokens: how many tokens to append.
            temperature: > 0; below 1 sharpens the distribution, above 1 flattens it.
            top_k: sample only among the k most likely tokens (None: all).
            generator: a `torch.Generator` for reproducible samples.

        Returns:
            (B, T + max_new_tokens) ids, the prompt included.
        """
        if not self.config.causal:
            raise ValueError("TinyGPT.generate: a bidirectional (causal=False) model cannot generate left to right")
        if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) or max_new_tokens < 0:
            raise ValueError(f"TinyGPT.generate: max_new_tokens must be an int >= 0, got {max_new_tokens!r}")
        if not isinstance(temperature, (int, float)) or not temperature > 0:
            raise ValueError(f"TinyGPT.generate: temperature must be > 0, got {temperature!r}")
        if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1):
            raise ValueError(f"TinyGPT.generate: top_k must be None or a positive int, got {top_k!r}")
        self._check_idx(idx, check_length=False)  # a long prompt is cropped to the last block_size tokens
        was_training = self.training
        self.eval()
        for _ in range(max_new_tokens):
            context = idx[:, -self.config.block_size :]  # (B, <= block_size): crop to the context length
            logits, _ = self(context)
            logits = logits[:, -1, :] / temperature  # (B, V): the next token's scores
            if top_k is not None:
                kth = torch.topk(logits, min(top_k, logits.size(-1))).values[:, [-1]]  # (B, 1)
                logits = logits.masked_fill(logits < kth, float("-inf"))
            probs = F.softmax(logits, dim=-1)  # (B, V)
            next_id = torch.multinomial(probs, num_samples=1, generator=generator)  # (B, 1)
            idx = torch.cat([idx, next_id], dim=1)  # (B, T + 1)
        self.train(was_training)
        return idx
