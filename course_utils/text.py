"""Text for the pre-training notebooks: a generated corpus, labelled tasks, tokenizers, Datasets.

The corpus tells short stories about a small world: people, their animals and objects, places,
things they do, and how they feel. Every feeling word ("happy", "miserable", ...) appears in
contexts that give away its sentiment: a cause before it ("she got a new kite, so she felt
joyful.") and a reaction after it ("he felt gloomy. he cried."). A language model pre-trained on
the corpus therefore learns which feeling words behave alike.

Two labelled tasks (both `ClassificationTask`s, with a validation split for choosing
hyper-parameters and a test split for reporting):

- **sentiment** (`make_sentiment_task`), the easy one: does a short story end on a positive or a
  negative feeling? Its few labelled training examples use only some of the feeling words
  (`SEEN_POSITIVE`, `SEEN_NEGATIVE`); its test examples only the others (`UNSEEN_POSITIVE`,
  `UNSEEN_NEGATIVE`), which the corpus contains but the labelled examples never do. A model
  trained from scratch has never seen the test words and guesses; a pre-trained one already
  knows them. What this shows is transfer of *word meaning*, and nothing more: static word
  vectors (the pre-trained token embeddings, averaged, with a linear classifier; see
  `course_utils.baselines`) solve it as well.
- **coherence** (`make_coherence_task`), the one that needs context: does the feeling fit its
  cause? "he felt happy because he got a new kite." is coherent, "he felt happy because a dog bit
  his hand." is not. The label is the XOR of the cause's mood and the feeling's mood, and every
  word is independent of the label on its own, so no bag of words (static vectors included) does
  better than chance; a model must combine the two parts of the sentence.

Everything is deterministic from a seed, and nothing is downloaded.
"""

from __future__ import annotations

import numbers
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch.utils.data import Dataset

# ---------------------------------------------------------------------------------------------
# The world
# ---------------------------------------------------------------------------------------------

PEOPLE = (  # (name, subject pronoun, possessive / object pronoun)
    ("tom", "he", "his"),
    ("anna", "she", "her"),
    ("ben", "he", "his"),
    ("lucy", "she", "her"),
    ("sam", "he", "his"),
    ("mia", "she", "her"),
    ("max", "he", "his"),
    ("emma", "she", "her"),
    ("leo", "he", "his"),
    ("zoe", "she", "her"),
    ("jack", "he", "his"),
    ("lily", "she", "her"),
    ("noah", "he", "his"),
    ("ella", "she", "her"),
    ("finn", "he", "his"),
    ("rosa", "she", "her"),
)
ANIMALS = ("dog", "cat", "bird", "horse", "rabbit", "duck", "fox", "cow", "pig", "frog", "owl", "mouse")
OBJECTS = ("ball", "book", "kite", "hat", "box", "drum", "doll", "bike", "boat", "cup", "lamp", "coat")
FOODS = ("cake", "apple", "soup", "bread", "pie", "cookie", "pear", "sandwich")
PLACES = ("park", "school", "beach", "forest", "garden", "farm", "market", "lake", "zoo", "library", "river", "hill")

# The words that carry the label. Each list is split in two: the labelled training examples
# use only the first half ("seen"), the test examples only the second ("unseen").
POSITIVE_WORDS = (
    "happy",
    "glad",
    "cheerful",
    "pleased",
    "joyful",
    "delighted",
    "thrilled",
    "proud",
    "excited",
    "merry",
    "grateful",
    "jolly",
)
NEGATIVE_WORDS = (
    "sad",
    "angry",
    "upset",
    "unhappy",
    "miserable",
    "gloomy",
    "lonely",
    "grumpy",
    "scared",
    "annoyed",
    "worried",
    "bitter",
)
SEEN_POSITIVE = POSITIVE_WORDS[:4]
UNSEEN_POSITIVE = POSITIVE_WORDS[4:]
SEEN_NEGATIVE = NEGATIVE_WORDS[:4]
UNSEEN_NEGATIVE = NEGATIVE_WORDS[4:]
LABEL_NAMES = ("negative", "positive")  # sentiment: label 0, label 1
COHERENCE_LABEL_NAMES = ("incoherent", "coherent")  # coherence: label 0, label 1

# Sentence templates. {P} the protagonist's name, {p} the pronoun, {q} the possessive, {a} an
# animal, {o} an object, {f} a food, {l} a place, {w} a feeling word.
_OPENERS = (  # neutral: what happens here says nothing about the mood
    "{P} went to the {l}.",
    "{P} walked to the {l} with {q} {a}.",
    "{P} played with a {o} in the {l}.",
    "{P} saw a {a} near the {l}.",
    "{P} read a book about a {a}.",
    "in the morning, {P} took {q} {o} to the {l}.",
    "{P} and {q} {a} went to the {l}.",
    "after school, {P} visited the {l}.",
    "{P} carried a {o} to the {l}.",
    "one day, {P} made a {f} for {q} {a}.",
)
_GOOD_EVENTS = (
    "{p} got a new {o}",
    "{p} won a prize at the {l}",
    "{p} found {q} lost {a}",
    "a friend gave {q} a {o}",
    "{p} ate a warm {f}",
    "{q} {a} came back home",
    "the sun came out over the {l}",
    "{p} learned to ride a bike",
)
_BAD_EVENTS = (
    "{p} lost {q} {o}",
    "{p} fell in the mud at the {l}",
    "{q} {a} ran away",
    "{p} broke {q} {o}",
    "it rained all day at the {l}",
    "{p} missed the bus",
    "{p} dropped {q} {f}",
    "a {a} bit {q} hand",
)
_FEELINGS = ("{p} felt {w}.", "{p} was {w}.", "{p} felt very {w}.", "{P} was so {w}.")
_CAUSED_FEELINGS = (
    "{p} felt {w} because {e}.",
    "{p} was {w} after {e}.",
    "{e}, so {p} felt {w}.",
    "when {e}, {p} was {w}.",
)
_GOOD_REACTIONS = (
    "{p} smiled.",
    "{p} laughed.",
    "{p} sang a song.",
    "{p} danced in the {l}.",
    "{p} hugged {q} {a}.",
    "{p} clapped {q} hands.",
    "{p} wanted to stay all day.",
    "{p} told everyone about it.",
)
_BAD_REACTIONS = (
    "{p} cried.",
    "{p} frowned.",
    "{p} sighed.",
    "{p} went home early.",
    "{p} kicked the {o}.",
    "{p} shouted at {q} {a}.",
    "{p} did not want to play.",
    "{p} stayed in bed.",
)
_ALL_TEMPLATES = _OPENERS + _GOOD_EVENTS + _BAD_EVENTS + _FEELINGS + _CAUSED_FEELINGS + _GOOD_REACTIONS + _BAD_REACTIONS


def _check_int(name: str, value, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    return value


def _fill(template: str, rng: random.Random, person: tuple[str, str, str], **extra: str) -> str:
    """Fill a template's slots; random nouns are drawn only for the slots it has."""
    name, pron, poss = person
    values = {"P": name, "p": pron, "q": poss}
    for slot, words in (("a", ANIMALS), ("o", OBJECTS), ("f", FOODS), ("l", PLACES)):
        if "{" + slot + "}" in template:
            values[slot] = rng.choice(words)
    values.update(extra)
    return template.format(**values)


def _story(rng: random.Random) -> str:
    """One short story: a neutral opening, then a mood with its cause and/or its reaction."""
    person = rng.choice(PEOPLE)
    positive = rng.random() < 0.5
    words = POSITIVE_WORDS if positive else NEGATIVE_WORDS
    events = _GOOD_EVENTS if positive else _BAD_EVENTS
    reactions = _GOOD_REACTIONS if positive else _BAD_REACTIONS
    w = rng.choice(words)
    sentences = [_fill(rng.choice(_OPENERS), rng, person)]
    shape = rng.randrange(4)
    if shape == 0:  # opening, feeling, reaction: the shape of a task example plus what follows
        sentences.append(_fill(rng.choice(_FEELINGS), rng, person, w=w))
    elif shape == 1:  # opening, event, feeling, reaction
        sentences.append(_fill(rng.choice(events), rng, person) + ".")
        sentences.append(_fill(rng.choice(_FEELINGS), rng, person, w=w))
    else:  # opening, feeling with its cause, reaction
        event = _fill(rng.choice(events), rng, person)
        sentences.append(_fill(rng.choice(_CAUSED_FEELINGS), rng, person, w=w, e=event))
    sentences.append(_fill(rng.choice(reactions), rng, person))
    if rng.random() < 0.3:
        sentences.append(_fill(rng.choice(reactions), rng, person))
    return " ".join(sentences)


def make_corpus(n_chars: int = 1_000_000, seed: int = 0) -> str:
    """A corpus of short stories about the small world, one story per line.

    Args:
        n_chars: generate stories until the text has at least this many characters
            (1,000,000 takes well under a second on a laptop).
        seed: the same seed gives the same text, character for character.

    Returns:
        Lower-case text; sentences end with ".", stories end with a newline.
    """
    _check_int("make_corpus: n_chars", n_chars, 1)
    rng = random.Random(seed)
    stories, total = [], 0
    while total < n_chars:
        story = _story(rng)
        stories.append(story)
        total += len(story) + 1  # + the newline
    return "\n".join(stories) + "\n"


# ---------------------------------------------------------------------------------------------
# The labelled tasks
# ---------------------------------------------------------------------------------------------


def _check_texts_labels(where: str, texts, labels) -> None:
    if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
        raise TypeError(f"{where}: texts must be a list of strings")
    if len(texts) != len(labels):
        raise ValueError(f"{where}: texts and labels must have the same length, got {len(texts)} and {len(labels)}")


@dataclass
class ClassificationTask:
    """A labelled text-classification task: a labelled pool, a validation split and a test split.

    Choose hyper-parameters (learning rate, steps, ...) on `val_*`; report `test_*` once, at the end.
    """

    train_texts: list[str]  # labelled pool; labels alternate 1, 0, 1, 0 so any even prefix is balanced
    train_labels: list[int]
    val_texts: list[str]  # held out, for choosing hyper-parameters
    val_labels: list[int]
    test_texts: list[str]  # held out, for the reported accuracy
    test_labels: list[int]
    label_names: tuple[str, ...] = LABEL_NAMES  # label_names[i] names label i
    name: str = "task"

    def __post_init__(self):
        for split in ("train", "val", "test"):
            _check_texts_labels(
                f"{type(self).__name__}: {split}", getattr(self, f"{split}_texts"), getattr(self, f"{split}_labels")
            )

    def train_subset(self, n_labels: int) -> tuple[list[str], list[int]]:
        """The first `n_labels` labelled examples (balanced when `n_labels` is even)."""
        _check_int("train_subset: n_labels", n_labels, 1)
        if n_labels > len(self.train_texts):
            raise ValueError(
                f"train_subset: n_labels must be <= {len(self.train_texts)} (the pool size), got {n_labels}"
            )
        return self.train_texts[:n_labels], self.train_labels[:n_labels]


@dataclass(kw_only=True)
class SentimentTask(ClassificationTask):
    """Short stories labelled by the mood they end on; test words never appear in the training examples.

    `train_*` and `val_*` use the seen feeling words, `test_*` only the unseen ones, and
    `test_seen_*` are new stories with the seen words.
    """

    test_seen_texts: list[str]  # held out, new stories with the seen feeling words
    test_seen_labels: list[int]
    seen_words: dict[str, tuple[str, ...]] = field(default_factory=dict)  # {"positive": ..., "negative": ...}
    unseen_words: dict[str, tuple[str, ...]] = field(default_factory=dict)
    name: str = "sentiment"


@dataclass(kw_only=True)
class CoherenceTask(ClassificationTask):
    """Stories whose feeling does (1) or does not (0) fit its cause; label = not XOR of the two moods."""

    feeling_words: dict[str, tuple[str, ...]] = field(default_factory=dict)  # {"positive": ..., "negative": ...}
    label_names: tuple[str, ...] = COHERENCE_LABEL_NAMES
    name: str = "coherence"


def _task_example(rng: random.Random, label: int, words_by_label: dict[int, Sequence[str]]) -> str:
    """A neutral opening and one feeling sentence: only the feeling word tells the label."""
    person = rng.choice(PEOPLE)
    opening = _fill(rng.choice(_OPENERS), rng, person)
    feeling = _fill(rng.choice(_FEELINGS), rng, person, w=rng.choice(words_by_label[label]))
    return f"{opening} {feeling}"


def make_sentiment_task(n_train: int = 256, n_test: int = 400, seed: int = 0, n_val: int = 200) -> SentimentTask:
    """The easy labelled task: did the story end on a positive (1) or negative (0) feeling?

    Args:
        n_train: size of the labelled pool (use a prefix of it, `task.train_subset(32)`, for few labels).
        n_test: size of each test set (unseen words; seen words), half of each label.
        seed: the same seed gives the same examples.
        n_val: size of the validation split (seen words, like the labelled pool), for choosing
            hyper-parameters; drawn from its own random stream, so the other splits do not depend on it.

    Returns:
        A `SentimentTask`. Its training and validation examples use only `SEEN_POSITIVE` /
        `SEEN_NEGATIVE`, its `test_*` examples only `UNSEEN_POSITIVE` / `UNSEEN_NEGATIVE`.
    """
    _check_int("make_sentiment_task: n_train", n_train, 2)
    _check_int("make_sentiment_task: n_test", n_test, 2)
    _check_int("make_sentiment_task: n_val", n_val, 2)
    rng = random.Random(10_007 * seed + 1)  # a different stream from make_corpus(seed)
    seen = {1: SEEN_POSITIVE, 0: SEEN_NEGATIVE}
    unseen = {1: UNSEEN_POSITIVE, 0: UNSEEN_NEGATIVE}

    def examples(n: int, words: dict[int, Sequence[str]], rng: random.Random) -> tuple[list[str], list[int]]:
        labels = [1 - i % 2 for i in range(n)]  # 1, 0, 1, 0, ...
        return [_task_example(rng, y, words) for y in labels], labels

    train_texts, train_labels = examples(n_train, seen, rng)
    test_texts, test_labels = examples(n_test, unseen, rng)
    test_seen_texts, test_seen_labels = examples(n_test, seen, rng)
    val_texts, val_labels = examples(n_val, seen, random.Random(10_007 * seed + 2))  # its own stream
    return SentimentTask(
        train_texts,
        train_labels,
        val_texts,
        val_labels,
        test_texts,
        test_labels,
        test_seen_texts=test_seen_texts,
        test_seen_labels=test_seen_labels,
        seen_words={"positive": SEEN_POSITIVE, "negative": SEEN_NEGATIVE},
        unseen_words={"positive": UNSEEN_POSITIVE, "negative": UNSEEN_NEGATIVE},
    )


def _coherence_example(rng: random.Random, coherent: int, feeling_positive: int) -> str:
    """A neutral opening and a feeling with its cause (as the corpus writes them), moods as asked."""
    person = rng.choice(PEOPLE)
    cause_positive = feeling_positive if coherent else 1 - feeling_positive
    w = rng.choice(POSITIVE_WORDS if feeling_positive else NEGATIVE_WORDS)
    event = _fill(rng.choice(_GOOD_EVENTS if cause_positive else _BAD_EVENTS), rng, person)
    opening = _fill(rng.choice(_OPENERS), rng, person)
    if rng.random() < 0.2:  # the corpus's other shape: the event, then the feeling in its own sentence
        feeling = _fill(rng.choice(_FEELINGS), rng, person, w=w)
        return f"{opening} {event}. {feeling}"
    return f"{opening} " + _fill(rng.choice(_CAUSED_FEELINGS), rng, person, w=w, e=event)


def make_coherence_task(n_train: int = 256, n_val: int = 200, n_test: int = 400, seed: int = 0) -> CoherenceTask:
    """The task that needs context: does the feeling fit its cause (1, coherent) or not (0)?

    Each example is a neutral opening and a feeling with its cause, in the corpus's own
    sentence shapes ("he felt glad because he found his lost dog.", "a fox bit her hand, so she
    felt joyful."). The corpus only ever pairs a good cause with a positive feeling and a bad
    cause with a negative one; here half the examples pair them the wrong way round. The label
    is 1 when the cause's mood equals the feeling's mood: an XOR of two moods, with each word,
    on its own, independent of the label (the feeling is positive in half of each label's
    examples, the cause good in half). A bag of words, static word vectors included, is at chance.

    All feeling words appear in every split: what is new in a test example is the combination
    of cause and feeling, not a word (the word-level transfer is what `make_sentiment_task` tests).

    Args:
        n_train: size of the labelled pool; labels alternate 1, 0, 1, 0 and the feeling's mood
            cycles positive, positive, negative, negative, so every prefix of 4k examples is
            balanced in label and in each mood.
        n_val: size of the validation split (for choosing hyper-parameters).
        n_test: size of the test split.
        seed: the same seed gives the same examples (each split has its own random stream).

    Returns:
        A `CoherenceTask` (label_names ("incoherent", "coherent")).
    """
    _check_int("make_coherence_task: n_train", n_train, 2)
    _check_int("make_coherence_task: n_val", n_val, 2)
    _check_int("make_coherence_task: n_test", n_test, 2)

    def examples(n: int, stream: int) -> tuple[list[str], list[int]]:
        rng = random.Random(10_007 * seed + 1_000 + stream)  # streams apart from make_corpus and sentiment
        labels = [1 - i % 2 for i in range(n)]  # 1, 0, 1, 0, ...
        moods = [1 - (i // 2) % 2 for i in range(n)]  # feeling positive, positive, negative, negative, ...
        return [_coherence_example(rng, y, m) for y, m in zip(labels, moods)], labels

    train_texts, train_labels = examples(n_train, 0)
    val_texts, val_labels = examples(n_val, 1)
    test_texts, test_labels = examples(n_test, 2)
    return CoherenceTask(
        train_texts,
        train_labels,
        val_texts,
        val_labels,
        test_texts,
        test_labels,
        feeling_words={"positive": POSITIVE_WORDS, "negative": NEGATIVE_WORDS},
    )


# ---------------------------------------------------------------------------------------------
# Tokenizers
# ---------------------------------------------------------------------------------------------

SPECIAL_TOKENS = ("<pad>", "<unk>", "<mask>", "<cls>", "<bos>", "<eos>")
_WORD_RE = re.compile(r"[a-z0-9']+|[^\sa-z0-9']|\n")
_NO_SPACE_BEFORE = {".", ",", "!", "?", ";", ":"}


class _SpecialIds:
    """Ids of the special tokens, shared by both tokenizers (they come first in every vocabulary)."""

    pad_id = 0
    unk_id = 1
    mask_id = 2
    cls_id = 3
    bos_id = 4
    eos_id = 5
    n_special = len(SPECIAL_TOKENS)
    vocab: list[str]

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def __len__(self) -> int:
        return len(self.vocab)


class WordTokenizer(_SpecialIds):
    """Words and punctuation to ids; a newline (end of story) becomes <eos>."""

    def __init__(self, words: Sequence[str]):
        """
        Args:
            words: the regular tokens, in id order after the special tokens; duplicates are dropped.
        """
        if isinstance(words, str) or not all(isinstance(w, str) and w for w in words):
            raise TypeError("WordTokenizer: words must be a sequence of non-empty strings")
        vocab = list(SPECIAL_TOKENS)
        for w in words:
            if w not in vocab and w != "\n":
                vocab.append(w)
        self.vocab: list[str] = vocab
        self.token_to_id: dict[str, int] = {t: i for i, t in enumerate(vocab)}

    @classmethod
    def from_text(cls, text: str) -> WordTokenizer:
        """A tokenizer knowing every token of `text`, in order of first appearance."""
        if not isinstance(text, str):
            raise TypeError(f"WordTokenizer.from_text: text must be a str, got {type(text).__name__}")
        return cls(list(dict.fromkeys(t for t in cls.split(text) if t != "\n")))

    @classmethod
    def from_world(cls) -> WordTokenizer:
        """The tokenizer for `make_corpus` and `make_sentiment_task`: every word the world can produce."""
        literals = " ".join(re.sub(r"\{\w\}", " ", t) for t in _ALL_TEMPLATES)
        names = [w for person in PEOPLE for w in person]
        words = (
            cls.split(literals)
            + names
            + list(ANIMALS + OBJECTS + FOODS + PLACES)
            + list(POSITIVE_WORDS + NEGATIVE_WORDS)
        )
        return cls(list(dict.fromkeys(words)))

    @staticmethod
    def split(text: str) -> list[str]:
        """Lower-case `text` and cut it into words, punctuation marks and newlines."""
        return _WORD_RE.findall(text.lower())

    def encode(self, text: str) -> list[int]:
        """Token ids of `text` (lower-cased; unknown words become <unk>, newlines <eos>)."""
        if not isinstance(text, str):
            raise TypeError(f"WordTokenizer.encode: text must be a str, got {type(text).__name__}")
        lookup = self.token_to_id
        return [self.eos_id if t == "\n" else lookup.get(t, self.unk_id) for t in self.split(text)]

    def decode(self, ids, skip_special: bool = False) -> str:
        """Text from ids: words joined by spaces, punctuation attached, <eos> as a newline.

        `decode(encode(text)) == text` for the corpus's own (lower-case, single-spaced) text.
        """
        out: list[str] = []
        for i in _as_id_list(ids, self.vocab_size, "WordTokenizer.decode"):
            token = "\n" if i == self.eos_id else self.vocab[i]
            if skip_special and i < self.n_special and i != self.eos_id:
                continue
            if out and token not in _NO_SPACE_BEFORE and token != "\n" and out[-1] != "\n":
                out.append(" ")
            out.append(token)
        return "".join(out)

    def to_dict(self) -> dict:
        """A plain description (stored in checkpoints); `tokenizer_from_dict` rebuilds it."""
        return {"kind": "word", "vocab": list(self.vocab)}


class CharTokenizer(_SpecialIds):
    """Characters to ids, for any text a user brings (special tokens first, then the characters)."""

    def __init__(self, chars: Sequence[str]):
        """
        Args:
            chars: the characters of the vocabulary, in id order after the special tokens.
        """
        if isinstance(chars, str):
            chars = list(chars)
        if not all(isinstance(c, str) and len(c) == 1 for c in chars):
            raise TypeError("CharTokenizer: chars must be single characters")
        self.vocab: list[str] = list(SPECIAL_TOKENS) + sorted(set(chars))
        self.token_to_id = {t: i for i, t in enumerate(self.vocab)}

    @classmethod
    def from_text(cls, text: str) -> CharTokenizer:
        """A tokenizer for the characters that occur in `text`."""
        if not isinstance(text, str):
            raise TypeError(f"CharTokenizer.from_text: text must be a str, got {type(text).__name__}")
        if not text:
            raise ValueError("CharTokenizer.from_text: text is empty")
        return cls(sorted(set(text)))

    @classmethod
    def from_file(cls, path: str | Path, block_size: int = 64) -> CharTokenizer:
        """A tokenizer for a UTF-8 text file, checked with `load_text_file` (see there for the errors)."""
        return cls.from_text(load_text_file(path, block_size))

    def encode(self, text: str) -> list[int]:
        """One id per character; characters outside the vocabulary become <unk>."""
        if not isinstance(text, str):
            raise TypeError(f"CharTokenizer.encode: text must be a str, got {type(text).__name__}")
        lookup = self.token_to_id
        return [lookup.get(c, self.unk_id) for c in text]

    def decode(self, ids, skip_special: bool = False) -> str:
        """Text from ids; special tokens are written as their names unless `skip_special`."""
        ids = _as_id_list(ids, self.vocab_size, "CharTokenizer.decode")
        return "".join(self.vocab[i] for i in ids if not (skip_special and i < self.n_special))

    def to_dict(self) -> dict:
        """A plain description (stored in checkpoints); `tokenizer_from_dict` rebuilds it."""
        return {"kind": "char", "vocab": list(self.vocab)}


def tokenizer_from_dict(d: dict) -> WordTokenizer | CharTokenizer:
    """Rebuild a tokenizer from its `to_dict()`."""
    if not isinstance(d, dict) or d.get("kind") not in ("word", "char") or not isinstance(d.get("vocab"), list):
        raise ValueError("tokenizer_from_dict: expected {'kind': 'word' | 'char', 'vocab': [...]}")
    if list(d["vocab"][: len(SPECIAL_TOKENS)]) != list(SPECIAL_TOKENS):
        raise ValueError(f"tokenizer_from_dict: the vocabulary must start with {SPECIAL_TOKENS}")
    regular = d["vocab"][len(SPECIAL_TOKENS) :]
    return WordTokenizer(regular) if d["kind"] == "word" else CharTokenizer(regular)


def _as_id_list(ids, vocab_size: int, where: str) -> list[int]:
    if isinstance(ids, torch.Tensor):
        if ids.dim() > 1:
            raise ValueError(f"{where}: ids must be 1-D, got shape {tuple(ids.shape)}")
        ids = ids.tolist()
    ids = list(ids)
    bad = [i for i in ids if isinstance(i, bool) or not isinstance(i, numbers.Integral) or not 0 <= i < vocab_size]
    if bad:
        raise ValueError(f"{where}: ids must be ints in [0, {vocab_size}), got {bad[0]!r}")
    return [int(i) for i in ids]


def load_text_file(path: str | Path, block_size: int = 64) -> str:
    """Read a user's text file for character-level pre-training, with a clear error for each problem.

    Args:
        path: a UTF-8 text file.
        block_size: the context length it will be cut into; the file needs at least `block_size + 1`
            characters (one window of input plus its shifted target).

    Returns:
        The file's text.

    Raises:
        FileNotFoundError: no such file. ValueError: a directory, an empty file, a binary or
        non-UTF-8 file, or a text shorter than `block_size + 1` characters.
    """
    _check_int("load_text_file: block_size", block_size, 1)
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"load_text_file: no file at {path}")
    if path.is_dir():
        raise ValueError(f"load_text_file: {path} is a directory, not a text file")
    data = path.read_bytes()
    if not data.strip():
        raise ValueError(f"load_text_file: {path} is empty")
    if b"\x00" in data:
        raise ValueError(f"load_text_file: {path} looks binary (it contains NUL bytes), not text")
    try:
        text = data.decode("utf-8-sig")  # UTF-8, without a byte-order mark if the editor wrote one
    except UnicodeDecodeError as err:
        raise ValueError(f"load_text_file: {path} is not UTF-8 text (undecodable byte at offset {err.start})") from None
    if len(text) < block_size + 1:
        raise ValueError(
            f"load_text_file: {path} has {len(text)} characters, fewer than block_size + 1 = "
            f"{block_size + 1}; use a longer text or a smaller block_size"
        )
    return text


# ---------------------------------------------------------------------------------------------
# Datasets
# ---------------------------------------------------------------------------------------------


def _as_token_tensor(tokens, block_size: int, where: str) -> torch.Tensor:
    _check_int(f"{where}: block_size", block_size, 1)
    tokens = torch.as_tensor(tokens, dtype=torch.long)
    if tokens.dim() != 1:
        raise ValueError(f"{where}: tokens must be 1-D, got shape {tuple(tokens.shape)}")
    if len(tokens) < block_size + 1:
        raise ValueError(f"{where}: need at least block_size + 1 = {block_size + 1} tokens, got {len(tokens)}")
    return tokens


# The batch of next-token pairs (notebook 08 teaches these lines in a mechanism cell; a test keeps them identical).
def next_token_batch(tokens, starts, block_size):
    """Windows of the 1-D `tokens` starting at `starts` (B,): inputs x and targets y, both (B, T)."""
    rows = starts[:, None] + torch.arange(block_size + 1)  # (B, T + 1): a window and the token after it
    chunk = tokens[rows]  # (B, T + 1) token ids
    return chunk[:, :-1], chunk[:, 1:]  # x, y: the same tokens shifted by one, y[b, t] follows x[b, t]


class CausalLMDataset(Dataset):
    """Windows of a token stream for next-token prediction: the target is the input shifted by one."""

    def __init__(self, tokens, block_size: int, stride: int = 1):
        """
        Args:
            tokens: 1-D token ids (a list or a LongTensor), e.g. `tokenizer.encode(corpus)`.
            block_size: window length T.
            stride: distance between window starts; 1 makes every offset a window (random crops,
                as in nanoGPT), `block_size` gives non-overlapping windows.
        """
        self.tokens = _as_token_tensor(tokens, block_size, "CausalLMDataset")
        self.block_size = block_size
        self.stride = _check_int("CausalLMDataset: stride", stride, 1)

    def __len__(self) -> int:
        return (len(self.tokens) - self.block_size - 1) // self.stride + 1

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not -len(self) <= i < len(self):
            raise IndexError(f"CausalLMDataset: index {i} out of range for {len(self)} windows")
        start = (i % len(self)) * self.stride
        chunk = self.tokens[start : start + self.block_size + 1]  # (T + 1,)
        return chunk[:-1], chunk[1:]  # x (T,), y (T,): y[t] is the token after x[t]

    def get_batch(self, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Windows at `indices` stacked into x, y of shape (B, T): faster than collating items."""
        return next_token_batch(self.tokens, indices.long() * self.stride, self.block_size)


class MaskedLMDataset(Dataset):
    """Windows of a token stream for masked-language modelling (BERT, Devlin et al. 2019).

    Each position is chosen for prediction with probability `mask_prob` (15%). A chosen token is
    replaced by <mask> 80% of the time, by a random regular token 10% of the time and left as it
    is 10% of the time, so the model cannot learn that only <mask> positions matter. The target
    is the original token at chosen positions and -100 (ignored by `cross_entropy`) elsewhere.
    The choice is a fixed function of (seed, window index), so the data set is deterministic.
    """

    def __init__(self, tokens, block_size: int, tokenizer, mask_prob: float = 0.15, stride: int = 1, seed: int = 0):
        """
        Args:
            tokens: 1-D token ids.
            block_size: window length T.
            tokenizer: gives `mask_id`, `vocab_size` and `n_special` (random replacements avoid specials).
            mask_prob: share of positions to predict, in (0, 1).
            stride: distance between window starts.
            seed: seeds the masking.
        """
        self.tokens = _as_token_tensor(tokens, block_size, "MaskedLMDataset")
        if not isinstance(mask_prob, (int, float)) or isinstance(mask_prob, bool) or not 0 < mask_prob < 1:
            raise ValueError(f"MaskedLMDataset: mask_prob must be in (0, 1), got {mask_prob!r}")
        self.block_size = block_size
        self.stride = _check_int("MaskedLMDataset: stride", stride, 1)
        self.mask_prob = float(mask_prob)
        self.mask_id = tokenizer.mask_id
        self.vocab_size = tokenizer.vocab_size
        self.n_special = tokenizer.n_special
        self.seed = int(seed)

    def __len__(self) -> int:
        return (len(self.tokens) - self.block_size) // self.stride + 1

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not -len(self) <= i < len(self):
            raise IndexError(f"MaskedLMDataset: index {i} out of range for {len(self)} windows")
        x, y = self.get_batch(torch.tensor([i % len(self)]))
        return x[0], y[0]

    def get_batch(self, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Masked windows at `indices`: x (B, T) with replacements, y (B, T) original ids or -100."""
        starts = indices.long() * self.stride  # (B,)
        original = self.tokens[starts[:, None] + torch.arange(self.block_size)]  # (B, T)
        x, y = original.clone(), torch.full_like(original, -100)
        for row, index in enumerate(indices.tolist()):
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + index)
            u = torch.rand(self.block_size, generator=g)  # which positions to predict
            v = torch.rand(self.block_size, generator=g)  # what to put there
            rand_tok = torch.randint(self.n_special, self.vocab_size, (self.block_size,), generator=g)
            chosen = u < self.mask_prob
            y[row, chosen] = original[row, chosen]
            x[row, chosen & (v < 0.8)] = self.mask_id  # 80%: <mask>
            swap = chosen & (v >= 0.8) & (v < 0.9)  # 10%: a random token; the last 10% stay as they are
            x[row, swap] = rand_tok[swap]
        return x, y


class ClassificationDataset(Dataset):
    """Labelled texts as padded token ids: item i is (ids (T,), label)."""

    def __init__(self, texts: Sequence[str], labels: Sequence[int], tokenizer, max_length: int | None = None):
        """
        Args:
            texts: the examples.
            labels: one int class per example.
            tokenizer: turns a text into ids; its `pad_id` fills the right end of short examples.
            max_length: T, the padded length; None uses the longest example. Longer examples are an error.
        """
        if isinstance(texts, str):
            raise TypeError("ClassificationDataset: texts must be a sequence of strings, not one string")
        if len(texts) != len(labels):
            raise ValueError(
                f"ClassificationDataset: texts and labels must have the same length, got {len(texts)} and {len(labels)}"
            )
        if len(texts) == 0:
            raise ValueError("ClassificationDataset: texts is empty")
        encoded = [tokenizer.encode(t) for t in texts]
        longest = max(len(e) for e in encoded)
        if max_length is None:
            max_length = longest
        _check_int("ClassificationDataset: max_length", max_length, 1)
        if longest > max_length:
            raise ValueError(
                f"ClassificationDataset: an example has {longest} tokens, more than max_length={max_length}"
            )
        self.ids = torch.full((len(texts), max_length), tokenizer.pad_id, dtype=torch.long)  # (N, T)
        for row, e in enumerate(encoded):
            self.ids[row, : len(e)] = torch.tensor(e, dtype=torch.long)
        self.labels = torch.as_tensor(list(labels), dtype=torch.long)  # (N,)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.ids[i], self.labels[i]
