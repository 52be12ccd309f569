"""JPEG corpus for the decoder parity test (internal/data/images/tfjpeg).

Writes JPEGs that TensorFlow's own encoder (and Pillow's libjpeg, for what
tf.io.encode_jpeg cannot write: 4:2:2, restart markers, Adobe RGB) makes
from seeded photo-like pixels, and beside each one what
tf.io.decode_jpeg(contents, channels=0) decodes it to:

    jpeg_corpus.py OUT_DIR [REAL_JPEG ...]

OUT_DIR/manifest.json lists {"name", "height", "width", "channels"} per
case ({"name", "error"} for a real file TensorFlow refuses); OUT_DIR/NAME.jpg is the file, OUT_DIR/NAME.tf the decoded HWC uint8
bytes, OUT_DIR/NAME.tf1 those of tf.io.decode_jpeg(contents, channels=1). Real JPEGs given on the command line are decoded as they are.
"""

import io
import json
import os
import struct
import sys

import numpy as np
import tensorflow as tf
from PIL import Image


def photo(h, w, seed, channels=3):
    """Smooth gradients, soft blobs, hard edges, saturated patches, noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.zeros((h, w, 3))
    for ch in range(3):
        a, b, c = rng.uniform(-2, 2, 3)
        img[..., ch] = 128 + 60 * np.sin(a * x / max(w, 1) * 6 + b * y / max(h, 1) * 6 + c)
    for _ in range(6):
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        r = rng.uniform(2, max(h, w) / 2 + 2)
        col = rng.uniform(-120, 120, 3)
        img += col * np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * r * r))[..., None]
    # Hard edges and saturated rectangles (clamping in the IDCT and colour).
    for _ in range(4):
        y0, x0 = rng.integers(0, h), rng.integers(0, w)
        img[y0:y0 + rng.integers(1, h + 1), x0:x0 + rng.integers(1, w + 1)] = rng.choice([0, 255], 3)
    img[(x.astype(int) // 3 + y.astype(int) // 2) % 7 == 0] += 40  # fine texture
    img += rng.normal(0, 8, img.shape)
    img = np.clip(np.round(img), 0, 255).astype(np.uint8)
    if channels == 1:
        img = img[..., :1]
    return img


def exif_segment(thumb=None):
    """An APP1 Exif segment (little-endian TIFF, one IFD0 entry), with an
    embedded JPEG thumbnail in IFD1 when thumb is given."""
    le = "<"
    entries = [(0x010F, 2, 5, b"graf\x00")]  # Make
    ifd0_off = 8
    n = len(entries)
    ifd0_size = 2 + 12 * n + 4
    data_off = ifd0_off + ifd0_size
    tiff = bytearray(b"II*\x00" + struct.pack(le + "I", ifd0_off))
    extra = bytearray()
    body = bytearray(struct.pack(le + "H", n))
    for tag, typ, count, val in entries:
        if len(val) <= 4:
            body += struct.pack(le + "HHI", tag, typ, count) + val.ljust(4, b"\x00")
        else:
            body += struct.pack(le + "HHII", tag, typ, count, data_off + len(extra))
            extra += val
    ifd1_off = data_off + len(extra) if thumb else 0
    body += struct.pack(le + "I", ifd1_off)
    tiff += body + extra
    if thumb:
        thumb_off = ifd1_off + 2 + 12 * 2 + 4
        tiff += struct.pack(le + "H", 2)
        tiff += struct.pack(le + "HHII", 0x0201, 4, 1, thumb_off)
        tiff += struct.pack(le + "HHII", 0x0202, 4, 1, len(thumb))
        tiff += struct.pack(le + "I", 0) + thumb
    payload = b"Exif\x00\x00" + bytes(tiff)
    return b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload


def with_segment(jpeg, seg):
    """Inserts a marker segment right after SOI."""
    return jpeg[:2] + seg + jpeg[2:]


def drop_scans(jpeg, keep):
    """The JPEG with only its first keep scans (tables between them kept),
    then EOI: a progressive file whose coefficients stay incomplete."""
    out, i, scans = bytearray(jpeg[:2]), 2, 0
    while i < len(jpeg):
        marker = jpeg[i + 1]
        if marker == 0xD9:
            break
        n = struct.unpack(">H", jpeg[i + 2:i + 4])[0]
        end = i + 2 + n
        if marker == 0xDA:
            scans += 1
            # The entropy-coded data runs to the next marker that is not a
            # stuffed 0xFF00 or a restart marker.
            while not (jpeg[end] == 0xFF and jpeg[end + 1] not in (0x00,) and not 0xD0 <= jpeg[end + 1] <= 0xD7):
                end += 1
            if scans > keep:
                break
        out += jpeg[i:end]
        i = end
    return bytes(out) + b"\xff\xd9"


def tf_encode(img, **kw):
    fmt = "grayscale" if img.shape[2] == 1 else "rgb"
    return tf.io.encode_jpeg(img, format=fmt, **kw).numpy()


def pil_encode(img, **kw):
    mode = "L" if img.shape[2] == 1 else "RGB"
    buf = io.BytesIO()
    Image.fromarray(img[..., 0] if mode == "L" else img, mode).save(buf, "JPEG", **kw)
    return buf.getvalue()


def corpus():
    sizes = [(1, 1), (2, 2), (13, 17), (7, 33), (8, 8), (16, 16), (31, 45), (173, 227), (480, 640)]
    seed = 0
    for h, w in sizes:
        for ch in (3, 1):
            for q in (50, 90, 100):
                for prog in (False, True):
                    for sub in ((True, False) if ch == 3 else (False,)):
                        seed += 1
                        img = photo(h, w, seed, ch)
                        opt = seed % 2 == 0
                        name = f"tf_{w}x{h}_{'rgb' if ch == 3 else 'gray'}_q{q}_{'prog' if prog else 'base'}_{'420' if sub else '444'}{'_opt' if opt else ''}"
                        yield name, tf_encode(img, quality=q, progressive=prog, optimize_size=opt, chroma_downsampling=sub)
    # Pillow (libjpeg-turbo too): 4:2:2, restart markers, Adobe RGB, EXIF.
    for h, w in [(1, 1), (13, 17), (7, 33), (31, 45), (173, 227), (480, 640)]:
        seed += 1
        img = photo(h, w, seed)
        for sub, tag in ((0, "444"), (1, "422"), (2, "420")):
            for prog in (False, True):
                yield f"pil_{w}x{h}_{tag}_{'prog' if prog else 'base'}", pil_encode(img, quality=85, subsampling=sub, progressive=prog)
                yield f"pil_{w}x{h}_{tag}_{'prog' if prog else 'base'}_rst", pil_encode(img, quality=85, subsampling=sub, progressive=prog, restart_marker_blocks=3)
            yield f"pil_{w}x{h}_{tag}_rstrows", pil_encode(img, quality=92, subsampling=sub, restart_marker_rows=1)
        yield f"pil_{w}x{h}_adobergb", pil_encode(img, quality=90, keep_rgb=True)
        yield f"pil_{w}x{h}_gray_rst", pil_encode(img[..., :1], quality=75, restart_marker_blocks=1)
        for prog in (False, True):
            buf = io.BytesIO()
            Image.fromarray(img, "RGB").convert("CMYK").save(buf, "JPEG", quality=85, progressive=prog)
            yield f"pil_{w}x{h}_cmyk{'_prog' if prog else ''}", buf.getvalue()
        thumb = tf_encode(photo(8, 10, seed + 1000), progressive=True)
        base = tf_encode(img, quality=80)
        yield f"exif_{w}x{h}", with_segment(base, exif_segment())
        yield f"exif_thumb_{w}x{h}", with_segment(base, exif_segment(thumb))
        yield f"exif_thumb_prog_{w}x{h}", with_segment(tf_encode(img, quality=80, progressive=True), exif_segment(thumb))
        # Progressive files cut between scans: libjpeg smooths their blocks
        # (the test reports how far Decode is from it).
        prog = tf_encode(img, quality=85, progressive=True)
        for keep in (1, 2, 4, 6):
            yield f"incomplete_{w}x{h}_{keep}scans", drop_scans(prog, keep)


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    cases = list(corpus())
    for i, path in enumerate(sys.argv[2:]):
        with open(path, "rb") as f:
            cases.append((f"real_{i}_{os.path.basename(path)}", f.read()))
    manifest = []
    for name, data in cases:
        with open(os.path.join(out, name + ".jpg"), "wb") as f:
            f.write(data)
        try:
            img = tf.io.decode_jpeg(data, channels=0).numpy()
        except Exception as e:  # a real file TensorFlow refuses
            manifest.append({"name": name, "error": str(e).splitlines()[0][:200]})
            continue
        with open(os.path.join(out, name + ".tf"), "wb") as f:
            f.write(img.tobytes())
        try:
            gray = tf.io.decode_jpeg(data, channels=1).numpy()
            with open(os.path.join(out, name + ".tf1"), "wb") as f:
                f.write(gray.tobytes())
        except Exception:  # CMYK: libjpeg has no CMYK to gray
            pass
        manifest.append({"name": name, "height": int(img.shape[0]), "width": int(img.shape[1]), "channels": int(img.shape[2])})
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f)


if __name__ == "__main__":
    main()
