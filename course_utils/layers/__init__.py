"""Layers written from scratch and tested against PyTorch's own, one module per family."""

from course_utils.layers.adapters import (
    Adapter,
    LoRALinear,
    add_adapters,
    add_lora,
    base_weight_changes,
    count_parameters,
    freeze,
    merge_lora,
    trainable_parameter_names,
)
from course_utils.layers.attention import MultiHeadAttention, scaled_dot_product_attention
from course_utils.layers.batchnorm import BatchNorm1d
