"""Regenerate docs/images/fast_style.jpg (run from the repository root:
python docs/images/make_fast_style.py): chelsea by the three shipped networks beside their
paintings, and a blend strip of the conditional network."""
import numpy as np
from PIL import Image

from minicnn.commands.fast_style import _paintings, compare_panel
from minicnn.data import find_image, load_image
from minicnn.plotting import panel_column, panel_row
from minicnn.techniques import fast_style as fs


def chelsea(size):
    img = load_image(find_image("chelsea"), size=size)
    return img[:img.shape[0] // 4 * 4, :img.shape[1] // 4 * 4]


img = chelsea(192)
rows = [compare_panel(img, fs.stylize(img, style), _paintings([style]))
        for style in ("starry_night", "the_scream", "composition_vii")]
small = chelsea(152)                                    # five frames within 1200 px
ws = np.linspace(1, 0, 5)
strip = [fs.stylize(small, blend={"starry_night": w, "the_scream": 1 - w}) for w in ws]
rows.append(panel_row(strip, labels=[f"{w:g} starry night + {1 - w:g} the scream"
                                     for w in ws]))
figure = panel_column(rows, gap=8)
Image.fromarray(figure).save("docs/images/fast_style.jpg", quality=85)
print(figure.shape)
