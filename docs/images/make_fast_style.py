"""Regenerate docs/images/fast_style.jpg (run from the repository root:
python docs/images/make_fast_style.py): chelsea by the three shipped networks beside their
paintings, and a blend strip of the conditional network."""
import io

import numpy as np
from PIL import Image
from minicnn.data import find_image, load_image
from minicnn.techniques import fast_style as fs
from minicnn.commands.fast_style import compare_panel, _paintings
from minicnn import plotting
img = load_image(find_image("chelsea"), size=192)
img = img[:img.shape[0] // 4 * 4, :img.shape[1] // 4 * 4]
rows = []
for style in ("starry_night", "the_scream", "composition_vii"):
    out = fs.stylize(img, style)
    rows.append(Image.fromarray(compare_panel(img, out, _paintings([style]))))
ws = np.linspace(1, 0, 5)
strip = [fs.stylize(img, blend={"starry_night": w, "the_scream": 1 - w}) for w in ws]
fig = plotting.show_images(strip, [f"{w:g} starry night + {1 - w:g} the scream" for w in ws], size=2.4)
buf = io.BytesIO(); fig.savefig(buf, format="png", dpi=100); buf.seek(0)
rows.append(Image.open(buf).convert("RGB"))
W = 1200
H = sum(r.height for r in rows) + 8 * len(rows)
canvas = Image.new("RGB", (W, H), "white"); y = 0
for r in rows:
    if r.width > W:
        r = r.resize((W, round(r.height * W / r.width)))
    canvas.paste(r, (0, y)); y += r.height + 8
canvas.save("docs/images/fast_style.jpg", quality=85)
print(canvas.size)
