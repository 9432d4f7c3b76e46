"""Writes SIZE bytes of deterministic, compressible, text-like data to stdout
(for bench/apps/xz.sh): lines of words drawn from a Zipf-weighted made-up
vocabulary, with hex and decimal numbers mixed in, and now and then a
log-like record. Fixed seed: the same bytes on every run.

Usage: python3 textgen.py SIZE
"""
import random
import sys


def main():
    size = int(sys.argv[1])
    rng = random.Random(424242)
    syllables = ["ka", "lo", "mi", "ne", "ru", "ta", "shi", "po", "qua", "zen",
                 "dor", "el", "an", "is", "ver", "ox", "ul", "tre", "bam", "fi"]
    words = ["".join(rng.choice(syllables) for _ in range(rng.randint(1, 4)))
             for _ in range(6000)]
    cum, total = [], 0.0
    for r in range(len(words)):
        total += 1.0 / (r + 1)
        cum.append(total)
    out = sys.stdout
    written = 0
    line_no = 0
    while written < size:
        ws = rng.choices(words, cum_weights=cum, k=6000)
        lines = []
        for j in range(0, len(ws), 12):
            line_no += 1
            line = " ".join(ws[j:j + 12])
            if line_no % 4 == 0:
                line += " %d %08x" % (rng.getrandbits(20), rng.getrandbits(32))
            if line_no % 50 == 0:
                line = "%07d [%s] level=%d id=%016x %s" % (
                    line_no, words[line_no % 97], line_no % 5, rng.getrandbits(64), line)
            lines.append(line)
        chunk = "\n".join(lines) + "\n"
        if written + len(chunk) > size:
            chunk = chunk[:size - written]
        out.write(chunk)
        written += len(chunk)


if __name__ == "__main__":
    main()
