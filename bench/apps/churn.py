"""Object churn for bench/apps/python.sh (run with PYTHONMALLOC=malloc, so
every object goes through malloc): a pool of live dicts, lists, strings,
bytes and tuples of widely varied sizes in which random slots are replaced
(the old object dropped), with bursts that build and drop a whole temporary
structure (json round trip, sort, string joins). Each object's fingerprint (crc32 of its repr) is
taken when it is made and again from the survivors at the end; the two sums
must agree, and the printed checksum is the same on every allocator.

Usage: python3 churn.py SCALE
"""
import json
import random
import sys
import zlib

MOD = (1 << 61) - 1


def fingerprint(obj):
    """crc32 of the object's repr (built in C: many temporary strings)."""
    text = repr(obj)
    return (len(text) << 32) | zlib.crc32(text.encode())


def log_size(rng, lo, hi):
    """A size between lo and hi, log-uniform: many small, a few large."""
    return int(lo * (hi / lo) ** rng.random())


WORDS = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta",
         "iota", "kappa", "lambda", "mu", "nu", "xi", "omicron", "pi", "rho"]


def make(rng, serial):
    kind = rng.randrange(10)
    if kind < 3:  # string, 8 B .. 64 KiB
        n = log_size(rng, 8, 65536)
        w = WORDS[serial % len(WORDS)]
        return (w + str(serial) + "-") * (n // (len(w) + 8) + 1)
    if kind == 3:  # bytes
        return rng.randbytes(log_size(rng, 4, 2048))
    if kind < 6:  # list of ints / floats / short strings
        n = log_size(rng, 1, 3000)
        return [serial + i if i % 3 else "s%d" % (i * serial % 977) for i in range(n)]
    if kind < 8:  # dict of small entries
        n = log_size(rng, 1, 800)
        return {"%s%d" % (WORDS[i % len(WORDS)], i): (i * serial % 10007, "v" * (i % 40))
                for i in range(n)}
    if kind == 8:  # nested: list of dicts
        return [{"id": serial * 100 + i, "name": "n%d" % i, "tags": list(range(i % 9))}
                for i in range(log_size(rng, 1, 200))]
    return tuple(float(i) / 7 for i in range(log_size(rng, 1, 500)))


def burst(rng, serial):
    """Build and drop a temporary structure; returns a checksum of it."""
    recs = [{"k": rng.randrange(1 << 30), "w": WORDS[i % len(WORDS)] * (1 + i % 5),
             "l": [i] * (i % 7)} for i in range(rng.randrange(200, 1500))]
    text = json.dumps(recs)
    back = json.loads(text)
    if back != recs:
        raise SystemExit("json round trip differs")
    back.sort(key=lambda r: (r["k"], r["w"]))
    joined = ",".join(r["w"] + str(r["k"]) for r in back)
    return (zlib.crc32(text.encode()) + len(joined) * 31 + back[0]["k"]) % MOD


def main():
    scale = float(sys.argv[1])
    rng = random.Random(20240611)
    steps = max(200, int(9000 * scale))
    pool_size = 1500
    pool = [None] * pool_size
    prints = [0] * pool_size
    running = 0
    bursts = 0
    made = 0
    for step in range(steps):
        slot = rng.randrange(pool_size)
        obj = make(rng, step)
        made += 1
        f = fingerprint(obj)
        running = (running - prints[slot] + f) % MOD
        pool[slot], prints[slot] = obj, f
        if step % 100 == 99:
            bursts = (bursts * 7 + burst(rng, step)) % MOD
    final = 0
    for obj in pool:
        if obj is not None:
            final = (final + fingerprint(obj)) % MOD
    if final != running:
        sys.stderr.write("python churn: live objects changed: fingerprint %d, expected %d\n"
                         % (final, running))
        return 1
    live = sum(1 for o in pool if o is not None)
    print("steps %d live %d" % (steps, live))
    print("fingerprint %d" % final)
    print("bursts %d" % bursts)
    return 0


if __name__ == "__main__":
    sys.exit(main())
