#!/usr/bin/python3
"""A heap map: a picture of a heap's address range at one moment, from a
heap dump (sa_heap_dump: "0xADDRESS SIZE used|free" per block, as replay
--dump-at and the gdb command write). Used bytes blue, free bytes red, bytes
no block covers (headers, slab tails, unused space of a mapping) grey; a
pixel is a fixed number of bytes, rows run left to right, each mapping
(a run of blocks without a gap of more than --gap bytes) starts on a new row.

    heap_map.py DUMP OUT.png [--title TEXT] [--width 1024] [--gap 1m]
"""
import argparse
import math
import sys


def parse_dump(path):
    blocks, name = [], ""
    with open(path) as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            if line.startswith("#"):
                if "(" in line and ")" in line:
                    name = line[line.index("(") + 1:line.index(")")]
                continue
            parts = line.split()
            if len(parts) != 3 or parts[2] not in ("used", "free"):
                raise ValueError("%s:%d: not a heap dump line: %r" % (path, lineno, line))
            blocks.append((int(parts[0], 16), int(parts[1]), parts[2] == "used"))
    blocks.sort()
    return name, blocks


def regions_of(blocks, gap):
    regions, cur = [], []
    for b in blocks:
        if cur and b[0] - (cur[-1][0] + cur[-1][1]) > gap:
            regions.append(cur)
            cur = []
        cur.append(b)
    if cur:
        regions.append(cur)
    return regions


def render(blocks, out, title="", width=1024, max_rows=700, gap=1 << 20):
    import numpy as np
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch
    regions = regions_of(blocks, gap)
    span = sum(r[-1][0] + r[-1][1] - r[0][0] for r in regions) or 1
    bpp = 16
    while math.ceil(span / bpp / width) + 2 * len(regions) > max_rows and bpp < (1 << 40):
        bpp *= 2
    rows = sum(math.ceil((r[-1][0] + r[-1][1] - r[0][0]) / bpp / width) + 1 for r in regions)
    used = np.zeros(rows * width)
    free = np.zeros(rows * width)
    sep = np.zeros(rows * width, dtype=bool)
    row = 0
    for r in regions:
        base = r[0][0]
        start_px = row * width
        for addr, size, is_used in r:
            arr = used if is_used else free
            a = (addr - base) / bpp
            e = (addr - base + size) / bpp
            ia, ie = int(a), int(e)
            if ia == ie:
                arr[start_px + ia] += e - a
            else:
                arr[start_px + ia] += ia + 1 - a
                arr[start_px + ia + 1:start_px + ie] += 1
                if ie * bpp < addr - base + size and start_px + ie < rows * width:
                    arr[start_px + ie] += e - ie
        nrows = math.ceil((r[-1][0] + r[-1][1] - base) / bpp / width)
        row += nrows
        sep[row * width:(row + 1) * width] = True
        row += 1
    used = np.clip(used, 0, 1)
    free = np.clip(free, 0, 1 - used)
    other = 1 - used - free
    blue = np.array([0.16, 0.35, 0.75])
    red = np.array([0.90, 0.20, 0.15])
    grey = np.array([0.88, 0.88, 0.88])
    img = used[:, None] * blue + free[:, None] * red + other[:, None] * grey
    img[sep] = [1, 1, 1]
    img = img.reshape(rows, width, 3)
    used_b = sum(b[1] for b in blocks if b[2])
    free_b = sum(b[1] for b in blocks if not b[2])
    largest = max([b[1] for b in blocks if not b[2]] or [0])
    frag = 100.0 * (free_b - largest) / free_b if free_b else 0.0
    fig_h = max(2.5, rows / 100 + 1.5)
    fig, ax = plt.subplots(figsize=(width / 100 + 0.5, fig_h))
    ax.imshow(img, aspect="auto", interpolation="nearest")
    ax.set_yticks([])
    ax.set_xticks([0, width // 2, width])
    ax.set_xticklabels(["0", "%s B" % (bpp * width // 2), "%s B" % (bpp * width)])
    ax.set_xlabel("offset within a row (one pixel = %d bytes, %d mapping%s)" % (
        bpp, len(regions), "s" if len(regions) != 1 else ""))
    ax.set_title("%s\n%d used blocks (%.1f KiB), %d free blocks (%.1f KiB), largest free %.1f KiB, "
                 "fragmentation %.1f%%" % (title, sum(1 for b in blocks if b[2]), used_b / 1024,
                                          sum(1 for b in blocks if not b[2]), free_b / 1024,
                                          largest / 1024, frag), fontsize=9)
    ax.legend(handles=[Patch(color=blue, label="used"), Patch(color=red, label="free"),
                       Patch(color=grey, label="no block (headers, unused)")],
              loc="upper right", fontsize=7, bbox_to_anchor=(1, -0.12), ncol=3)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return {"blocks": len(blocks), "regions": len(regions), "bytes_per_pixel": bpp,
            "fragmentation_pct": frag}


def parse_size(s):
    mult = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
    return int(s[:-1]) * mult[s[-1].lower()] if s[-1].lower() in mult else int(s)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dump")
    ap.add_argument("out")
    ap.add_argument("--title", default="")
    ap.add_argument("--width", type=int, default=1024)
    ap.add_argument("--gap", default="1m")
    a = ap.parse_args(argv)
    try:
        name, blocks = parse_dump(a.dump)
    except (OSError, ValueError) as e:
        print("heap_map: %s" % e, file=sys.stderr)
        return 2
    if not blocks:
        print("heap_map: %s: no blocks" % a.dump, file=sys.stderr)
        return 2
    info = render(blocks, a.out, a.title or "heap map: %s (%s)" % (name, a.dump), a.width,
                  gap=parse_size(a.gap))
    print("heap_map: %s: %d blocks in %d mappings, %d bytes per pixel, fragmentation %.1f%% -> %s" % (
        a.dump, info["blocks"], info["regions"], info["bytes_per_pixel"], info["fragmentation_pct"], a.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
