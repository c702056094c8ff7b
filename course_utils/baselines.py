"""Static word-vector baselines: what the pre-trained token embeddings alone can do, with no context.

A text becomes the mean of its tokens' rows of the pre-trained embedding table (`wte`), a "bag
of embeddings" that ignores word order and every interaction between words. Two classifiers
read it:

- "logistic": standardised features and a logistic regression (scikit-learn's `LogisticRegression`);
- "centroid": nearest centroid (scikit-learn's `NearestCentroid`): the class whose mean
  training vector is closest.

Printed beside the fine-tuning methods, they say how much of a task is word identity. The
sentiment task (`make_sentiment_task`) is: static vectors solve it, because "joyful" lies near
"glad" in the embedding table. The coherence task (`make_coherence_task`) is not: its label is
an XOR of two moods and every word is independent of it, so the two classes' averaged vectors
have the same distribution of positions along each mood direction: a linear classifier cannot
represent the XOR, the class centroids coincide, and both stay at chance.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from course_utils.text import ClassificationTask, SentimentTask

STATIC_METHODS = ("logistic", "centroid")


@dataclass
class StaticResult:
    """How a static baseline did on a task."""

    method: str  # one of STATIC_METHODS
    n_labels: int  # labelled training examples used
    train_accuracy: float
    val_accuracy: float
    test_accuracy: float
    extra_accuracy: dict[str, float] = field(default_factory=dict)  # e.g. {"test_seen": ...} for sentiment


def _model_and_tokenizer(model, tokenizer, where: str):
    if model is None:
        from course_utils.pretraining import load_pretrained

        loaded, loaded_tok, _ = load_pretrained()
        return loaded, tokenizer if tokenizer is not None else loaded_tok
    wte = getattr(getattr(model, "transformer", None), "wte", None) if isinstance(model, torch.nn.Module) else None
    if not isinstance(wte, torch.nn.Embedding):
        raise TypeError(f"{where}: model must be a TinyGPT (with transformer.wte) or None, got {type(model).__name__}")
    if tokenizer is None:
        raise ValueError(f"{where}: pass the model's tokenizer with the model")
    if tokenizer.vocab_size != wte.num_embeddings:
        raise ValueError(
            f"{where}: the tokenizer has {tokenizer.vocab_size} tokens but the model's embedding has "
            f"{wte.num_embeddings}; use the tokenizer the model was pre-trained with"
        )
    return model, tokenizer


@torch.no_grad()
def bag_of_embeddings(texts: Sequence[str], model=None, tokenizer=None) -> torch.Tensor:
    """The mean of each text's token embeddings (rows of `model.transformer.wte`): (N, C), float32.

    Args:
        texts: the texts (a list of strings).
        model: a TinyGPT whose token embeddings to use (None: the shipped pre-trained model).
        tokenizer: its tokenizer (None with model=None: the shipped model's).
    """
    if isinstance(texts, str) or not isinstance(texts, Sequence) or not all(isinstance(t, str) for t in texts):
        raise TypeError("bag_of_embeddings: texts must be a list of strings")
    if len(texts) == 0:
        raise ValueError("bag_of_embeddings: texts is empty")
    model, tokenizer = _model_and_tokenizer(model, tokenizer, "bag_of_embeddings")
    wte = model.transformer.wte.weight.detach().float().cpu()  # (V, C)
    rows = []
    for t in texts:
        ids = tokenizer.encode(t)
        rows.append(wte[ids].mean(0) if ids else torch.zeros(wte.shape[1]))
    return torch.stack(rows)  # (N, C)


def fit_static(features: torch.Tensor, labels, method: str = "logistic", C: float = 1.0):
    """A fitted scikit-learn classifier on bag-of-embeddings `features` (N, C) and int `labels` (N,).

    Args:
        method: "logistic" (standardise, then logistic regression with inverse regularisation `C`)
            or "centroid" (nearest centroid, Euclidean).
        C: > 0, the logistic regression's inverse regularisation strength (ignored by "centroid").

    Returns:
        An object with `.predict(features)`.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import NearestCentroid
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if method not in STATIC_METHODS:
        raise ValueError(f"fit_static: method must be one of {STATIC_METHODS}, got {method!r}")
    if isinstance(C, bool) or not isinstance(C, numbers.Real) or not C > 0:
        raise ValueError(f"fit_static: C must be a number > 0, got {C!r}")
    x = _as_features(features, "fit_static")
    y = np.asarray(labels)
    if y.ndim != 1 or len(y) != len(x):
        raise ValueError(f"fit_static: labels must be 1-D with one label per row of features ({len(x)})")
    if len(np.unique(y)) < 2:
        raise ValueError("fit_static: labels must contain at least two classes")
    if method == "centroid":
        return NearestCentroid().fit(x, y)
    return make_pipeline(StandardScaler(), LogisticRegression(C=float(C), max_iter=2000)).fit(x, y)


def _as_features(features, where: str) -> np.ndarray:
    if isinstance(features, torch.Tensor):
        features = features.detach().cpu().numpy()
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"{where}: features must be 2-D (N, C), got shape {x.shape}")
    return x


def _accuracy(clf, texts, labels, model, tokenizer) -> float:
    pred = clf.predict(_as_features(bag_of_embeddings(texts, model, tokenizer), "static_baseline"))
    return float((pred == np.asarray(labels)).mean())


def static_baseline(
    task: ClassificationTask,
    method: str = "logistic",
    n_labels: int = 32,
    *,
    model=None,
    tokenizer=None,
    C: float = 1.0,
) -> StaticResult:
    """Train a static baseline on the first `n_labels` labelled examples of `task` and test it.

    Args:
        task: a `ClassificationTask` (`make_sentiment_task()`, `make_coherence_task()`).
        method: "logistic" or "centroid" (see the module's docstring).
        n_labels: how many labelled examples (the task's first n_labels; at least one of each class).
        model, tokenizer: whose token embeddings (None: the shipped pre-trained model and its tokenizer).
        C: the logistic regression's inverse regularisation strength; choose it on `val_accuracy`.

    Returns:
        A `StaticResult` (train, validation and test accuracy; for a `SentimentTask` also
        `extra_accuracy["test_seen"]`, new stories with the seen words).
    """
    if not isinstance(task, ClassificationTask):
        raise TypeError(f"static_baseline: task must be a ClassificationTask, got {type(task).__name__}")
    if method not in STATIC_METHODS:
        raise ValueError(f"static_baseline: method must be one of {STATIC_METHODS}, got {method!r}")
    texts, labels = task.train_subset(n_labels)  # checks n_labels
    if len(set(labels)) < 2:
        raise ValueError(f"static_baseline: n_labels must be >= 2 so that both classes occur, got {n_labels}")
    model, tokenizer = _model_and_tokenizer(model, tokenizer, "static_baseline")
    clf = fit_static(bag_of_embeddings(texts, model, tokenizer), labels, method, C)
    extra = {}
    if isinstance(task, SentimentTask):
        extra["test_seen"] = _accuracy(clf, task.test_seen_texts, task.test_seen_labels, model, tokenizer)
    return StaticResult(
        method=method,
        n_labels=n_labels,
        train_accuracy=_accuracy(clf, texts, labels, model, tokenizer),
        val_accuracy=_accuracy(clf, task.val_texts, task.val_labels, model, tokenizer),
        test_accuracy=_accuracy(clf, task.test_texts, task.test_labels, model, tokenizer),
        extra_accuracy=extra,
    )
