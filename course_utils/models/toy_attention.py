"""Two one-layer attention models, trained in a few seconds on a CPU: one looks by position, one by content.

Reversal: the answer at position i is the token at position T-1-i, so information must move
between positions, and the one layer that can move it is attention. Where to look depends only on
the position, never on the digits: the trained weights are the same anti-diagonal for every input,
found from the positional embeddings alone.

Associative recall ("a3 b7 c1 | b -> 7"): a few key-value pairs, then a key; the answer is its
value. Where to look now depends on the input: the pair whose key matches the question, wherever
it is. The model has no positional embeddings at all, so it can only find the pair by content.
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


# ---------------------------------------------------------------- associative recall
KEY_LETTERS = "abcdefghijkl"  # the keys of the recall task, shown as letters


@dataclass
class RecallConfig:
    """Sizes and training settings of the associative-recall experiment."""

    num_pairs: int = 6  # P, key-value pairs before the question
    num_keys: int = 12  # distinct keys (letters a..l); the P keys of a sequence are all different
    num_values: int = 10  # values 0..9; two pairs may share a value
    embed_dim: int = 32  # width of the key and value embeddings
    num_heads: int = 1  # one head: one pair to find
    steps: int = 80  # optimizer steps, each on a fresh random batch (100% accuracy after about 40)
    batch_size: int = 128  # sequences per step
    lr: float = 3e-3  # Adam learning rate (slow enough to watch the pattern form)
    seed: int = 0  # seeds the initial weights and the batches
    snapshot_every: int = 4  # record test accuracy and attention weights every this many steps
    num_test: int = 512  # held-out sequences used for the accuracy


class RecallModel(nn.Module):
    """Pairs embedded as key + value (no positions), one attention layer from the question to the pairs, a read-out."""

    def __init__(self, num_keys: int = 12, num_values: int = 10, embed_dim: int = 32, num_heads: int = 1):
        super().__init__()
        self.key_embedding = nn.Embedding(num_keys, embed_dim)
        self.value_embedding = nn.Embedding(num_values, embed_dim)
        self.attention = MultiHeadAttention(embed_dim, num_heads)
        self.readout = nn.Linear(embed_dim, num_values)

    def forward(
        self, keys: torch.Tensor, values: torch.Tensor, question: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits of the answer and the question's attention over the pairs.

        Args:
            keys: (B, P) key ids of the pairs; values: (B, P) their values; question: (B,) the key asked for.

        Returns:
            `(logits, weights)` of shapes (B, num_values) and (B, H, P).
        """
        for pname, t, dims in (("keys", keys, 2), ("values", values, 2), ("question", question, 1)):
            if not isinstance(t, torch.Tensor) or t.dim() != dims or t.dtype != torch.long:
                raise ValueError(
                    f"RecallModel: {pname} must be a long tensor with {dims} dimension(s), got "
                    f"{getattr(t, 'shape', type(t).__name__)}"
                )
        if keys.shape != values.shape or question.shape[0] != keys.shape[0]:
            raise ValueError(
                f"RecallModel: keys and values must have the same shape (B, P) and question (B,), got "
                f"{tuple(keys.shape)}, {tuple(values.shape)}, {tuple(question.shape)}"
            )
        pairs = self.key_embedding(keys) + self.value_embedding(values)  # (B, P, E): one position per pair
        asked = self.key_embedding(question)[:, None]  # (B, 1, E): the question is a key too
        out, weights = self.attention(asked, pairs, pairs)  # (B, 1, E), (B, H, 1, P)
        return self.readout(out[:, 0]), weights[:, :, 0]


@dataclass
class RecallBatch:
    """Associative-recall sequences: pairs (keys[i], values[i]), then the question keys[where]."""

    keys: torch.Tensor  # (N, P) distinct key ids per sequence
    values: torch.Tensor  # (N, P) value ids
    question: torch.Tensor  # (N,) the key asked for
    where: torch.Tensor  # (N,) the index of the pair that holds it
    answer: torch.Tensor  # (N,) its value

    def text(self, i: int) -> str:
        """Sequence i as text, e.g. 'a3 b7 c1 | b'."""
        pairs = " ".join(f"{KEY_LETTERS[k]}{v}" for k, v in zip(self.keys[i].tolist(), self.values[i].tolist()))
        return f"{pairs} | {KEY_LETTERS[self.question[i].item()]}"


def make_recall_batch(
    batch_size: int,
    num_pairs: int = 6,
    num_keys: int = 12,
    num_values: int = 10,
    generator: torch.Generator | None = None,
) -> RecallBatch:
    """Random associative-recall sequences: `num_pairs` distinct keys with random values, and one of the keys asked for."""
    for pname, value in (
        ("batch_size", batch_size),
        ("num_pairs", num_pairs),
        ("num_keys", num_keys),
        ("num_values", num_values),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"make_recall_batch: {pname} must be a positive int, got {value!r}")
    if num_pairs > num_keys or num_keys > len(KEY_LETTERS):
        raise ValueError(
            f"make_recall_batch: need num_pairs <= num_keys <= {len(KEY_LETTERS)} (the keys of a sequence are "
            f"distinct), got num_pairs={num_pairs}, num_keys={num_keys}"
        )
    keys = torch.rand(batch_size, num_keys, generator=generator).argsort(dim=-1)[:, :num_pairs]  # (N, P) distinct
    values = torch.randint(0, num_values, (batch_size, num_pairs), generator=generator)  # (N, P)
    where = torch.randint(0, num_pairs, (batch_size,), generator=generator)  # (N,)
    question = keys.gather(1, where[:, None])[:, 0]
    return RecallBatch(keys, values, question, where, values.gather(1, where[:, None])[:, 0])


@dataclass
class RecallResult:
    """A trained recall model and how it got there."""

    model: RecallModel
    config: RecallConfig
    test: RecallBatch  # num_test held-out sequences
    loss: list[float] = field(default_factory=list)  # training loss per step
    snapshot_steps: list[int] = field(default_factory=list)  # steps at which snapshots were taken
    snapshot_accuracy: list[float] = field(default_factory=list)  # test accuracy at each snapshot
    snapshot_on_target: list[float] = field(default_factory=list)  # share of test questions whose argmax is the pair
    # (n_show, P, P): for each of the first n_show test contexts, the weights when asking for each of its P keys
    snapshot_weights: list[torch.Tensor] = field(default_factory=list)
    snapshot_answers: list[torch.Tensor] = field(default_factory=list)  # (n_show, P) the predicted values

    @property
    def accuracy(self) -> float:
        """Final test accuracy."""
        return self.snapshot_accuracy[-1]


@torch.no_grad()
def ask_every_key(model: RecallModel, batch: RecallBatch, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Ask each of the first n contexts for each of its keys in turn: weights (n, P, P) and answers (n, P).

    Row j of `weights[i]` is the attention when asking for the key of pair j: a model that finds
    pairs by content puts each row's weight on the diagonal.
    """
    keys, values = batch.keys[:n], batch.values[:n]
    n, num_pairs = keys.shape
    logits, weights = model(  # every (context, asked pair) combination as one batch of n * P questions
        keys.repeat_interleave(num_pairs, 0), values.repeat_interleave(num_pairs, 0), keys.reshape(-1)
    )
    return weights[:, 0].reshape(n, num_pairs, num_pairs), logits.argmax(-1).reshape(n, num_pairs)


def train_recall_model(config: RecallConfig | None = None, n_show: int = 8) -> RecallResult:
    """Train a `RecallModel` on associative recall (a second or two on a CPU).

    Args:
        config: sizes and settings; default `RecallConfig()`.
        n_show: how many test contexts' attention weights to keep at each snapshot.

    Returns:
        A `RecallResult` with the model, the loss per step, and snapshots of test accuracy and
        attention weights every `config.snapshot_every` steps (step 0 included).
    """
    config = RecallConfig() if config is None else config
    if not isinstance(config, RecallConfig):
        raise ValueError(f"train_recall_model: config must be a RecallConfig, got {type(config).__name__}")
    if config.steps < 1 or config.snapshot_every < 1 or config.lr <= 0:
        raise ValueError(f"train_recall_model: steps and snapshot_every must be >= 1 and lr > 0, got {config}")
    if isinstance(n_show, bool) or not isinstance(n_show, int) or not 1 <= n_show <= config.num_test:
        raise ValueError(f"train_recall_model: n_show must be an int in [1, {config.num_test}], got {n_show!r}")
    sizes = (config.num_pairs, config.num_keys, config.num_values)
    test = make_recall_batch(config.num_test, *sizes, generator=torch.Generator().manual_seed(config.seed + 2))
    with torch.random.fork_rng(devices=[]):  # seed the initial weights without disturbing the caller's random stream
        torch.manual_seed(config.seed)
        model = RecallModel(config.num_keys, config.num_values, config.embed_dim, config.num_heads)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    data_gen = torch.Generator().manual_seed(config.seed + 1)
    result = RecallResult(model, config, test)

    def snapshot(step: int) -> None:
        model.eval()
        with torch.no_grad():
            logits, weights = model(test.keys, test.values, test.question)  # (N, V), (N, H, P)
            shown_weights, shown_answers = ask_every_key(model, test, n_show)
        model.train()
        result.snapshot_steps.append(step)
        result.snapshot_accuracy.append((logits.argmax(-1) == test.answer).float().mean().item())
        result.snapshot_on_target.append((weights.mean(1).argmax(-1) == test.where).float().mean().item())
        result.snapshot_weights.append(shown_weights)
        result.snapshot_answers.append(shown_answers)

    with single_thread():
        snapshot(0)
        for step in range(1, config.steps + 1):
            batch = make_recall_batch(config.batch_size, *sizes, generator=data_gen)
            logits, _ = model(batch.keys, batch.values, batch.question)  # (B, V)
            loss = nn.functional.cross_entropy(logits, batch.answer)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            result.loss.append(loss.item())
            if step % config.snapshot_every == 0 or step == config.steps:
                snapshot(step)
    model.eval()
    return result
