"""Tests for course_utils.text: corpus, labelled task, tokenizers and Datasets."""

from __future__ import annotations

import re

import pytest
import torch

from course_utils.text import (
    ANIMALS,
    COHERENCE_LABEL_NAMES,
    FOODS,
    NEGATIVE_WORDS,
    OBJECTS,
    PEOPLE,
    PLACES,
    POSITIVE_WORDS,
    SEEN_NEGATIVE,
    SEEN_POSITIVE,
    SPECIAL_TOKENS,
    UNSEEN_NEGATIVE,
    UNSEEN_POSITIVE,
    CausalLMDataset,
    CharTokenizer,
    ClassificationDataset,
    ClassificationTask,
    CoherenceTask,
    MaskedLMDataset,
    WordTokenizer,
    load_text_file,
    make_coherence_task,
    make_corpus,
    make_sentiment_task,
    tokenizer_from_dict,
)


@pytest.fixture(scope="module")
def corpus() -> str:
    return make_corpus(200_000, seed=0)


@pytest.fixture(scope="module")
def task():
    return make_sentiment_task(n_train=64, n_test=200, seed=0)


@pytest.fixture(scope="module")
def tok() -> WordTokenizer:
    return WordTokenizer.from_world()


def _words(text: str) -> set[str]:
    return set(WordTokenizer.split(text))


# --- corpus ---------------------------------------------------------------------------------


def test_corpus_is_deterministic_and_seed_dependent():
    assert make_corpus(20_000, seed=3) == make_corpus(20_000, seed=3)
    assert make_corpus(20_000, seed=3) != make_corpus(20_000, seed=4)


def test_corpus_size_is_configurable_and_default_is_a_million_chars():
    small = make_corpus(5_000, seed=0)
    assert 5_000 <= len(small) < 5_000 + 1_000  # stops after the story that crosses the size
    assert len(make_corpus(seed=0)) >= 1_000_000
    assert small.endswith("\n") and all(line.endswith(".") for line in small.splitlines())


def test_corpus_uses_every_sentiment_word_with_label_consistent_context(corpus):
    good_reactions = ("smiled", "laughed", "sang", "danced", "hugged", "clapped", "stay all day", "told everyone")
    bad_reactions = (
        "cried",
        "frowned",
        "sighed",
        "went home early",
        "kicked",
        "shouted",
        "did not want",
        "stayed in bed",
    )
    for words, same, other in (
        (POSITIVE_WORDS, good_reactions, bad_reactions),
        (NEGATIVE_WORDS, bad_reactions, good_reactions),
    ):
        for w in words:
            stories = [s for s in corpus.splitlines() if re.search(rf"\b{w}\b", s)]
            assert len(stories) >= 20, f"{w!r} is too rare in the corpus"
            consistent = sum(any(r in s for r in same) for s in stories)
            contradicting = sum(any(r in s for r in other) for s in stories)
            assert consistent == len(stories) and contradicting == 0, w


def test_corpus_has_no_unknown_words(corpus, tok):
    assert tok.unk_id not in tok.encode(corpus)


def test_corpus_bad_input():
    with pytest.raises(ValueError, match="n_chars"):
        make_corpus(0)
    with pytest.raises(ValueError, match="n_chars"):
        make_corpus(10.5)


# --- task -----------------------------------------------------------------------------------


def test_word_split_partitions_the_sentiment_words():
    assert set(SEEN_POSITIVE) | set(UNSEEN_POSITIVE) == set(POSITIVE_WORDS)
    assert set(SEEN_NEGATIVE) | set(UNSEEN_NEGATIVE) == set(NEGATIVE_WORDS)
    assert not set(SEEN_POSITIVE) & set(UNSEEN_POSITIVE)
    assert not set(SEEN_NEGATIVE) & set(UNSEEN_NEGATIVE)
    assert not set(POSITIVE_WORDS) & set(NEGATIVE_WORDS)


def test_unseen_words_never_in_labelled_training_examples_but_in_the_corpus(task, corpus):
    unseen = set(task.unseen_words["positive"]) | set(task.unseen_words["negative"])
    train_vocab = set().union(*(_words(t) for t in task.train_texts))
    assert not unseen & train_vocab
    assert unseen <= _words(corpus)


def test_each_example_carries_exactly_one_sentiment_word_matching_its_label(task):
    sets = [
        (task.train_texts, task.train_labels, task.seen_words),
        (task.test_texts, task.test_labels, task.unseen_words),
        (task.test_seen_texts, task.test_seen_labels, task.seen_words),
    ]
    all_sentiment = set(POSITIVE_WORDS) | set(NEGATIVE_WORDS)
    for texts, labels, allowed in sets:
        for text, y in zip(texts, labels, strict=True):
            found = _words(text) & all_sentiment
            assert len(found) == 1, text
            assert found <= set(allowed["positive" if y == 1 else "negative"]), text


def test_everything_but_the_sentiment_word_is_independent_of_the_label():
    # with the sentiment words removed, both labels use the same words (no other clue to the label)
    big = make_sentiment_task(n_train=2, n_test=2_000, seed=0)
    sentiment = set(POSITIVE_WORDS) | set(NEGATIVE_WORDS)
    by_label = {0: set(), 1: set()}
    for text, y in zip(big.test_texts, big.test_labels, strict=True):
        by_label[y] |= _words(text) - sentiment
    assert by_label[0] == by_label[1]


def test_task_balanced_prefixes_and_determinism(task):
    texts, labels = task.train_subset(32)
    assert len(texts) == 32 and sum(labels) == 16
    assert sum(task.test_labels) == len(task.test_labels) // 2
    again = make_sentiment_task(n_train=64, n_test=200, seed=0)
    assert again.train_texts == task.train_texts and again.test_texts == task.test_texts
    assert make_sentiment_task(n_train=64, n_test=200, seed=1).train_texts != task.train_texts


def test_task_bad_input(task):
    with pytest.raises(ValueError, match="n_train"):
        make_sentiment_task(n_train=1)
    with pytest.raises(ValueError, match="n_test"):
        make_sentiment_task(n_test=-5)
    with pytest.raises(ValueError, match="n_labels"):
        task.train_subset(0)
    with pytest.raises(ValueError, match="n_labels"):
        task.train_subset(10_000)


def test_sentiment_task_is_a_classification_task_with_a_validation_split(task):
    assert isinstance(task, ClassificationTask) and task.name == "sentiment"
    assert len(task.val_texts) == len(task.val_labels) == 200 and sum(task.val_labels) == 100
    all_sentiment = set(POSITIVE_WORDS) | set(NEGATIVE_WORDS)
    for text, y in zip(task.val_texts, task.val_labels, strict=True):  # seen words, like the labelled pool
        assert _words(text) & all_sentiment <= set(task.seen_words["positive" if y == 1 else "negative"])
    assert not set(task.val_texts) & set(task.test_texts + task.test_seen_texts)
    # the validation split has its own random stream: its size changes nothing else
    other = make_sentiment_task(n_train=64, n_test=200, seed=0, n_val=10)
    assert (other.train_texts, other.test_texts, other.test_seen_texts) == (
        task.train_texts,
        task.test_texts,
        task.test_seen_texts,
    )
    assert other.val_texts == task.val_texts[:10]
    with pytest.raises(ValueError, match="n_val"):
        make_sentiment_task(n_val=1)


# --- coherence task -------------------------------------------------------------------------

_GOOD_CAUSE = re.compile(
    r"got a new|won a prize|found (his|her) lost|gave (his|her)|ate a warm|came back home|sun came out|learned to ride"
)
_BAD_CAUSE = re.compile(
    r"lost (his|her) (?!lost)|fell in the mud|ran away|broke (his|her)|rained all day|missed the bus|dropped (his|her)|bit (his|her) hand"
)


def _moods(text: str) -> tuple[int, int]:
    """(cause is good, feeling is positive) of a coherence example, read off its words."""
    good, bad = bool(_GOOD_CAUSE.search(text)), bool(_BAD_CAUSE.search(text))
    assert good != bad, text
    words = _words(text)
    pos, neg = words & set(POSITIVE_WORDS), words & set(NEGATIVE_WORDS)
    assert len(pos) + len(neg) == 1, text
    return int(good), int(bool(pos))


@pytest.fixture(scope="module")
def coherence():
    return make_coherence_task(n_train=64, n_val=100, n_test=400, seed=0)


def test_coherence_label_is_whether_the_feeling_fits_its_cause(coherence):
    assert isinstance(coherence, CoherenceTask) and isinstance(coherence, ClassificationTask)
    assert coherence.name == "coherence" and coherence.label_names == COHERENCE_LABEL_NAMES
    for texts, labels in (
        (coherence.train_texts, coherence.train_labels),
        (coherence.val_texts, coherence.val_labels),
        (coherence.test_texts, coherence.test_labels),
    ):
        for text, y in zip(texts, labels, strict=True):
            good, positive = _moods(text)
            assert y == int(good == positive), text


def test_coherence_words_alone_carry_no_label(coherence):
    # every word occurs about equally often in both labels: no bag of words can tell them apart
    big = make_coherence_task(n_train=2, n_val=2, n_test=4_000, seed=1)
    counts = {0: {}, 1: {}}
    for text, y in zip(big.test_texts, big.test_labels, strict=True):
        for w in _words(text):
            counts[y][w] = counts[y].get(w, 0) + 1
    assert set(counts[0]) == set(counts[1])
    for w in counts[0]:
        a, b = counts[0][w], counts[1][w]
        assert abs(a - b) <= 4 * (a + b) ** 0.5 + 2, (w, a, b)  # equal up to sampling noise
    # and both moods, of the feeling and of the cause, are balanced within each label
    for y in (0, 1):
        moods = [_moods(t) for t, lab in zip(big.test_texts, big.test_labels, strict=True) if lab == y]
        assert abs(sum(m[0] for m in moods) / len(moods) - 0.5) < 0.05
        assert abs(sum(m[1] for m in moods) / len(moods) - 0.5) < 0.01


def _skeletons(text: str) -> set[str]:
    """Its sentences with every name, pronoun, noun and feeling word replaced by its kind."""
    kinds = {p[0]: "P" for p in PEOPLE} | {"he": "p", "she": "p", "his": "q", "her": "q"}
    kinds |= {w: "A" for w in ANIMALS} | {w: "O" for w in OBJECTS} | {w: "F" for w in FOODS}
    kinds |= {w: "L" for w in PLACES} | {w: "W" for w in POSITIVE_WORDS + NEGATIVE_WORDS}
    out = set()
    for sentence in re.split(r"(?<=\.)\s+", text.strip()):
        out.add(" ".join(kinds.get(w, w) for w in WordTokenizer.split(sentence)))
    return out


def test_coherence_examples_are_made_of_the_corpus_sentences(coherence, corpus, tok):
    # every sentence of an example has a shape the corpus writes (its nouns and feeling word aside)
    known = _skeletons(corpus)
    for text in coherence.train_texts + coherence.test_texts:
        assert _skeletons(text) <= known, text
        assert tok.unk_id not in tok.encode(text)
        assert len(tok.encode(text)) <= 32  # fits the shipped model's context
    all_feelings = set(POSITIVE_WORDS) | set(NEGATIVE_WORDS)
    used = set().union(*(_words(t) for t in coherence.train_texts + coherence.test_texts)) & all_feelings
    assert used == all_feelings  # every feeling word, in training and test alike


def test_coherence_prefixes_are_balanced_and_deterministic(coherence):
    for n in (4, 16, 32):
        texts, labels = coherence.train_subset(n)
        assert sum(labels) == n // 2
        assert sum(_moods(t)[1] for t in texts) == n // 2  # feeling positive in half
    again = make_coherence_task(n_train=64, n_val=100, n_test=400, seed=0)
    assert again == coherence
    other = make_coherence_task(n_train=64, n_val=100, n_test=400, seed=1)
    assert other.train_texts != coherence.train_texts
    assert not set(coherence.val_texts) & set(coherence.test_texts)
    # each split has its own stream: the pool's size does not change validation or test
    bigger = make_coherence_task(n_train=128, n_val=100, n_test=400, seed=0)
    assert bigger.val_texts == coherence.val_texts and bigger.test_texts == coherence.test_texts


def test_coherence_bad_input(coherence):
    for kwargs, name in (({"n_train": 1}, "n_train"), ({"n_val": 0}, "n_val"), ({"n_test": 2.5}, "n_test")):
        with pytest.raises(ValueError, match=name):
            make_coherence_task(**kwargs)
    with pytest.raises(ValueError, match="n_labels"):
        coherence.train_subset(65)


def test_classification_task_checks_its_splits():
    with pytest.raises(ValueError, match="same length"):
        ClassificationTask(["a", "b"], [0], ["c"], [1], ["d"], [0])
    with pytest.raises(TypeError, match="list of strings"):
        ClassificationTask("ab", [0, 1], ["c"], [1], ["d"], [0])


# --- tokenizers -----------------------------------------------------------------------------


def test_word_tokenizer_round_trip_and_specials(corpus, tok):
    assert tok.vocab[: len(SPECIAL_TOKENS)] == list(SPECIAL_TOKENS)
    assert (tok.pad_id, tok.unk_id, tok.mask_id) == (0, 1, 2)
    sample = corpus[: corpus.index("\n", 5_000) + 1]  # whole stories
    ids = tok.encode(sample)
    assert tok.decode(ids) == sample
    assert ids.count(tok.eos_id) == sample.count("\n")
    assert tok.decode(torch.tensor(ids)) == sample


def test_word_tokenizer_unknown_words_and_case(tok):
    ids = tok.encode("Tom saw a Dragon.")
    assert ids[0] == tok.token_to_id["tom"] and ids[3] == tok.unk_id
    assert tok.decode([tok.pad_id, tok.token_to_id["tom"]], skip_special=True) == "tom"


def test_word_tokenizer_from_text_and_dict_round_trip():
    t = WordTokenizer.from_text("the cat sat. the dog sat.\n")
    assert t.vocab[len(SPECIAL_TOKENS) :] == ["the", "cat", "sat", ".", "dog"]
    again = tokenizer_from_dict(t.to_dict())
    assert isinstance(again, WordTokenizer) and again.vocab == t.vocab


def test_word_tokenizer_bad_input(tok):
    with pytest.raises(TypeError, match="text"):
        tok.encode(123)
    with pytest.raises(ValueError, match="ids"):
        tok.decode([tok.vocab_size])
    with pytest.raises(TypeError, match="words"):
        WordTokenizer("abc")
    with pytest.raises(ValueError, match="kind"):
        tokenizer_from_dict({"kind": "bpe", "vocab": []})


def test_char_tokenizer_round_trip(tmp_path):
    text = "Hello, world! Ünïcode too.\nSecond line.\n" * 3
    path = tmp_path / "mine.txt"
    path.write_text(text, encoding="utf-8")
    t = CharTokenizer.from_file(path, block_size=16)
    assert t.decode(t.encode(text)) == text
    assert t.vocab_size == len(SPECIAL_TOKENS) + len(set(text))
    assert t.encode("~")[0] == t.unk_id
    again = tokenizer_from_dict(t.to_dict())
    assert isinstance(again, CharTokenizer) and again.encode(text) == t.encode(text)


def test_char_tokenizer_file_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no file"):
        CharTokenizer.from_file(tmp_path / "missing.txt")
    with pytest.raises(ValueError, match="directory"):
        load_text_file(tmp_path)
    empty = tmp_path / "empty.txt"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(ValueError, match="empty"):
        CharTokenizer.from_file(empty)
    binary = tmp_path / "blob.bin"
    binary.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(ValueError, match="binary"):
        CharTokenizer.from_file(binary)
    latin = tmp_path / "latin1.txt"
    latin.write_bytes("caf\xe9 ".encode("latin-1") * 50)
    with pytest.raises(ValueError, match="UTF-8"):
        CharTokenizer.from_file(latin)
    short = tmp_path / "short.txt"
    short.write_text("too short", encoding="utf-8")
    with pytest.raises(ValueError, match="block_size"):
        CharTokenizer.from_file(short, block_size=64)
    assert load_text_file(short, block_size=8) == "too short"
    with pytest.raises(ValueError, match="block_size"):
        load_text_file(short, block_size=0)


# --- datasets -------------------------------------------------------------------------------


def test_causal_dataset_target_is_input_shifted_by_one():
    tokens = torch.arange(100)
    ds = CausalLMDataset(tokens, block_size=8, stride=3)
    assert len(ds) == (100 - 8 - 1) // 3 + 1
    x, y = ds[2]
    assert x.shape == y.shape == (8,)
    assert torch.equal(x, torch.arange(6, 14)) and torch.equal(y, torch.arange(7, 15))
    xb, yb = ds.get_batch(torch.tensor([0, 2, len(ds) - 1]))
    assert xb.shape == yb.shape == (3, 8)
    assert torch.equal(xb[1], x) and torch.equal(yb[:, :-1], xb[:, 1:])
    x_last, y_last = ds[len(ds) - 1]
    assert y_last[-1] <= 99
    with pytest.raises(IndexError):
        ds[len(ds)]


def test_masked_dataset_masks_about_15_percent_with_80_10_10(tok):
    tokens = torch.randint(tok.n_special, tok.vocab_size, (20_000,), generator=torch.Generator().manual_seed(0))
    ds = MaskedLMDataset(tokens, block_size=64, tokenizer=tok, seed=0)
    x, y = ds.get_batch(torch.arange(0, 12_000, 40))  # (300, 64)
    original = torch.stack([tokens[i : i + 64] for i in range(0, 12_000, 40)])
    chosen = y != -100
    assert abs(chosen.float().mean().item() - 0.15) < 0.01
    assert torch.equal(y[chosen], original[chosen])
    assert torch.equal(x[~chosen], original[~chosen])  # unchosen positions are untouched
    masked = (x == tok.mask_id) & chosen
    kept = (x == original) & chosen
    swapped = chosen & ~masked & ~kept
    n = chosen.sum().item()
    assert abs(masked.sum().item() / n - 0.8) < 0.03
    assert abs(kept.sum().item() / n - 0.1) < 0.03  # (a random swap may hit the same token: rare)
    assert abs(swapped.sum().item() / n - 0.1) < 0.03
    assert (x[swapped] >= tok.n_special).all()  # random replacements are never special tokens
    x2, y2 = ds[40]
    assert torch.equal(x2, x[1]) and torch.equal(y2, y[1])  # deterministic per window


def test_classification_dataset_pads_right(tok, task):
    ds = ClassificationDataset(task.train_texts[:4], task.train_labels[:4], tok)
    ids, label = ds[0]
    n0 = len(tok.encode(task.train_texts[0]))
    assert ds.ids.shape[0] == 4 and ids.shape == (ds.ids.shape[1],)
    assert (ids[:n0] != tok.pad_id).all() and (ids[n0:] == tok.pad_id).all()
    assert label.item() == task.train_labels[0]
    assert ClassificationDataset(task.train_texts[:4], task.train_labels[:4], tok, max_length=40).ids.shape == (4, 40)


def test_datasets_bad_input(tok):
    with pytest.raises(ValueError, match="block_size"):
        CausalLMDataset(torch.arange(5), block_size=8)
    with pytest.raises(ValueError, match="1-D"):
        CausalLMDataset(torch.zeros(4, 20, dtype=torch.long), block_size=8)
    with pytest.raises(ValueError, match="stride"):
        CausalLMDataset(torch.arange(50), block_size=8, stride=0)
    with pytest.raises(ValueError, match="mask_prob"):
        MaskedLMDataset(torch.arange(50), 8, tok, mask_prob=1.5)
    with pytest.raises(ValueError, match="same length"):
        ClassificationDataset(["a", "b"], [1], tok)
    with pytest.raises(ValueError, match="max_length"):
        ClassificationDataset(["tom went to the park."], [1], tok, max_length=3)
    with pytest.raises(TypeError, match="texts"):
        ClassificationDataset("tom", [1], tok)
