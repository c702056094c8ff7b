"""Layers written from scratch and tested against PyTorch's own, one module per family."""
