"""Widgets for notebook 00, Start here: one small explorer that proves widgets work."""

from __future__ import annotations

import ipywidgets as widgets
import torch

from course_utils.plotting import PALETTE, label, new_figure


def compute_wave(frequency: float, damping: float = 0.0, n_points: int = 400) -> tuple[torch.Tensor, torch.Tensor]:
    """A damped sine wave `exp(-damping t) sin(2 pi frequency t)` on t in [0, 2]."""
    if not frequency > 0:
        raise ValueError(f"frequency must be > 0, got {frequency!r}")
    if damping < 0:
        raise ValueError(f"damping must be >= 0, got {damping!r}")
    t = torch.linspace(0, 2, n_points)
    return t, torch.exp(-damping * t) * torch.sin(2 * torch.pi * frequency * t)


def make_widget_check():
    """A slider and a checkbox that redraw a wave: if this responds, the course's widgets work."""
    from course_utils.widgets.explorer import Explorer

    fig, ax = new_figure(width=6.0, height=2.6)
    (line,) = ax.plot([], [], color=PALETTE["blue"])
    ax.set_xlim(0, 2)
    ax.set_ylim(-1.1, 1.1)
    label(ax, "time t", "signal")

    def draw(frequency, damped):
        t, y = compute_wave(frequency, 1.5 if damped else 0.0)
        line.set_data(t, y)
        ax.title.set_text(f"{frequency:.1f} cycles per unit time{', damped' if damped else ''}")
        return "Widgets work: the plot follows the slider."

    controls = {
        "frequency": widgets.FloatSlider(value=1.0, min=0.5, max=5.0, step=0.5, description="frequency"),
        "damped": widgets.Checkbox(value=False, description="damped"),
    }
    # dynamic: the wave and the title; the axes are drawn once and reused
    return Explorer("widget-check", controls, fig, draw, dynamic=[line, ax.title])
