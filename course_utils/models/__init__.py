"""Models used across the course, one module per family."""

from course_utils.models.autoencoder import (
    Autoencoder,
    add_noise,
    pca_reconstruct,
    reconstruction_error,
    train_autoencoder,
)
from course_utils.models.gpt import GPTConfig, TinyGPT
from course_utils.models.mlp import make_mlp
from course_utils.models.toy_attention import ReversalConfig, ToyAttentionModel, train_reversal_model

__all__ = [
    "Autoencoder",
    "add_noise",
    "pca_reconstruct",
    "reconstruction_error",
    "train_autoencoder",
    "GPTConfig",
    "TinyGPT",
    "make_mlp",
    "ReversalConfig",
    "ToyAttentionModel",
    "train_reversal_model",
]
