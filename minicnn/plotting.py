"""Matplotlib figures.  matplotlib is imported inside each function (lazily), so
importing minicnn never pulls it in; the Agg backend is used when no display
is available.  Library code never plots: techniques return arrays, and these
functions (or the notebooks) draw them.
"""
import numpy as np

__all__ = ["pyplot", "show_images"]


def pyplot():
    """matplotlib.pyplot, with the Agg backend when there is no display."""
    import os

    import matplotlib
    if not os.environ.get("DISPLAY") and "inline" not in matplotlib.get_backend().lower():
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def show_images(images, titles=None, ncols=None, size=3.0, path=None):
    """A row/grid of uint8 (or grey float) images with optional titles; saved to
    ``path`` when given.  Returns the figure."""
    plt = pyplot()
    n = len(images)
    ncols = n if ncols is None else ncols
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for i, img in enumerate(images):
        ax = axes.ravel()[i]
        ax.imshow(img, cmap="gray" if np.asarray(img).ndim == 2 else None)
        if titles is not None:
            ax.set_title(str(titles[i]), fontsize=9)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=100)
    return fig
