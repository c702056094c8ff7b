"""A one-layer attention model that learns to reverse a sequence of digits in a few seconds on a CPU.

Reversal is the smallest task that needs attention and only attention: the answer at position i
is the token at position T-1-i, so information must move between positions, and the one layer
that can move it is attention. Once trained, the weights show where each position looks: an
anti-diagonal, found from the positional embeddings alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from course_utils.layers.attention import MultiHeadAttention
from course_utils.repro import single_thread


@dataclass
class ReversalConfig:
    """Sizes and training settings of the sequence-reversal experiment."""

    seq_len: int = 8  # T, digits per sequence
    vocab_size: int = 10  # digits 0..9
    embed_dim: int = 32  # width of token and position embeddings
    num_heads: int = 1  # one head is enough for reversal; more heads split the job
    causal: bool = False  # forbid looking ahead: then the first half cannot be reversed
    steps: int = 80  # optimizer steps, each on a fresh random batch (100% accuracy after about 40)
    batch_size: int = 128  # sequences per step
    lr: float = 3e-3  # Adam learning rate (1e-2 learns too fast to watch the pattern form)
    seed: int = 0  # seeds the initial weights and the batches
    snapshot_every: int = 2  # record test accuracy and attention weights every this many steps
    num_test: int = 512  # held-out sequences used for the accuracy


class ToyAttentionModel(nn.Module):
    """Token + position embeddings, one MultiHeadAttention layer (no residual), a linear read-out per position."""

    def __init__(
        self, vocab_size: int = 10, seq_len: int = 8, embed_dim: int = 32, num_heads: int = 1, causal: bool = False
    ):
        super().__init__()
        self.seq_len, self.causal = seq_len, causal
        self.token_embedding = nn.Embedding(vocab_size, embed_dim)
        self.position_embedding = nn.Embedding(seq_len, embed_dim)
        self.attention = MultiHeadAttention(embed_dim, num_heads)
        self.readout = nn.Linear(embed_dim, vocab_size)

    def forward(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits per position and the attention weights (causal if the model was built so).

        Args:
            tokens: (B, T) integers in [0, vocab_size), T <= seq_len.

        Returns:
            `(logits, weights)` of shapes (B, T, vocab_size) and (B, H, T, T).
        """
        if not isinstance(tokens, torch.Tensor) or tokens.dim() != 2 or tokens.dtype != torch.long:
            raise ValueError(
                f"ToyAttentionModel: tokens must be a (batch, length) long tensor, got "
                f"{getattr(tokens, 'shape', type(tokens).__name__)}"
            )
        if tokens.shape[1] > self.seq_len:
            raise ValueError(f"ToyAttentionModel: sequences may be at most {self.seq_len} long, got {tokens.shape[1]}")
        positions = torch.arange(tokens.shape[1], device=tokens.device)
        x = self.token_embedding(tokens) + self.position_embedding(positions)  # (B, T, E)
        # No residual connection: the read-out at position i sees only what attention brought there.
        mixed, weights = self.attention(x, causal=self.causal)  # (B, T, E), (B, H, T, T)
        return self.readout(mixed), weights


def make_reversal_batch(
    batch_size: int, seq_len: int = 8, vocab_size: int = 10, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random digit sequences and their reversals.

    Returns:
        `(x, y)`, both (batch_size, seq_len) long tensors, with `y = x.flip(-1)`.
    """
    for pname, value in (("batch_size", batch_size), ("seq_len", seq_len), ("vocab_size", vocab_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"make_reversal_batch: {pname} must be a positive int, got {value!r}")
    x = torch.randint(0, vocab_size, (batch_size, seq_len), generator=generator)
    return x, x.flip(-1)


@dataclass
class ReversalResult:
    """A trained reversal model and how it got there."""

    model: ToyAttentionModel
    config: ReversalConfig
    test_x: torch.Tensor  # (num_test, T) held-out inputs
    test_y: torch.Tensor  # (num_test, T) their reversals
    loss: list[float] = field(default_factory=list)  # training loss per step
    snapshot_steps: list[int] = field(default_factory=list)  # steps at which snapshots were taken
    snapshot_accuracy: list[float] = field(default_factory=list)  # test accuracy per digit at each snapshot
    snapshot_weights: list[torch.Tensor] = field(default_factory=list)  # (n_show, H, T, T) for test_x[:n_show]
    snapshot_predictions: list[torch.Tensor] = field(default_factory=list)  # (n_show, T) predicted digits

    @property
    def accuracy(self) -> float:
        """Final test accuracy per digit."""
        return self.snapshot_accuracy[-1]


@torch.no_grad()
def reversal_accuracy(model: ToyAttentionModel, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """(accuracy per digit, share of sequences reversed without a single mistake)."""
    was_training = model.training
    model.eval()
    correct = model(x)[0].argmax(-1) == y  # (N, T)
    model.train(was_training)
    return correct.float().mean().item(), correct.all(-1).float().mean().item()


def train_reversal_model(config: ReversalConfig | None = None, n_show: int = 8) -> ReversalResult:
    """Train a `ToyAttentionModel` to reverse digit sequences (about a second on a CPU).

    Args:
        config: sizes and settings; default `ReversalConfig()`.
        n_show: how many test sequences' attention weights to keep at each snapshot.

    Returns:
        A `ReversalResult` with the model, the loss per step, and snapshots of test accuracy and
        attention weights every `config.snapshot_every` steps (step 0 included).
    """
    config = ReversalConfig() if config is None else config
    if not isinstance(config, ReversalConfig):
        raise ValueError(f"train_reversal_model: config must be a ReversalConfig, got {type(config).__name__}")
    if config.steps < 1 or config.snapshot_every < 1 or config.lr <= 0:
        raise ValueError(f"train_reversal_model: steps and snapshot_every must be >= 1 and lr > 0, got {config}")
    if isinstance(n_show, bool) or not isinstance(n_show, int) or not 1 <= n_show <= config.num_test:
        raise ValueError(f"train_reversal_model: n_show must be an int in [1, {config.num_test}], got {n_show!r}")
    with torch.random.fork_rng(devices=[]):  # seed the initial weights without disturbing the caller's random stream
        torch.manual_seed(config.seed)
        model = ToyAttentionModel(config.vocab_size, config.seq_len, config.embed_dim, config.num_heads, config.causal)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    data_gen = torch.Generator().manual_seed(config.seed + 1)
    test_x, test_y = make_reversal_batch(
        config.num_test, config.seq_len, config.vocab_size, torch.Generator().manual_seed(config.seed + 2)
    )
    result = ReversalResult(model, config, test_x, test_y)

    def snapshot(step: int) -> None:
        model.eval()
        with torch.no_grad():
            logits, weights = model(test_x)
        model.train()
        result.snapshot_steps.append(step)
        result.snapshot_accuracy.append((logits.argmax(-1) == test_y).float().mean().item())
        result.snapshot_weights.append(weights[:n_show].clone())
        result.snapshot_predictions.append(logits[:n_show].argmax(-1))

    with single_thread():
        snapshot(0)
        for step in range(1, config.steps + 1):
            x, y = make_reversal_batch(config.batch_size, config.seq_len, config.vocab_size, data_gen)
            logits, _ = model(x)  # (B, T, V)
            loss = nn.functional.cross_entropy(logits.reshape(-1, config.vocab_size), y.reshape(-1))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            result.loss.append(loss.item())
            if step % config.snapshot_every == 0 or step == config.steps:
                snapshot(step)
    model.eval()
    return result
