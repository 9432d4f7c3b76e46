"""Reading stratalloc traces (analysis/trace/FORMAT.md) in Python (stdlib).

    events, info = load("/tmp/x.satrace")   # TraceError names the offset
    for ts, seq, tid, op, ptr, result, size, align_log2 in events: ...

Events come sorted by (timestamp, file position): the one global order that
//analysis:replay also uses. The chunk checksums are checked by replay (C);
here the structure is validated (magic, counts, lengths, ops).
"""
import struct

MAGIC = b"SATRACE\0"
VERSION = 1
HEADER = struct.Struct("<8sHHHHQQIIQ")  # 48 bytes
CHUNK = struct.Struct("<IIII")  # 16 bytes
RECORD = struct.Struct("<QQQQ")  # 32 bytes
CHUNK_MAGIC = 0x4B484353
END_MAGIC = 0x444E4553
MAX_CHUNK = 1 << 20
SIZE_MASK = (1 << 48) - 1
OPS = {1: "malloc", 2: "free", 3: "calloc", 4: "realloc", 5: "memalign"}
MALLOC, FREE, CALLOC, REALLOC, MEMALIGN = 1, 2, 3, 4, 5


class TraceError(Exception):
    pass


def load(path):
    with open(path, "rb") as f:
        data = f.read()
    n = len(data)
    if n < HEADER.size:
        raise TraceError("truncated header at offset 0: %d bytes, a header is %d" % (n, HEADER.size))
    magic, version, hsize, rsize, csize, start_rt, res, pid, flags, _ = HEADER.unpack_from(data, 0)
    if magic != MAGIC:
        raise TraceError("bad magic at offset 0: not a stratalloc trace")
    if version != VERSION:
        raise TraceError("unsupported version %d at offset 8 (this reader: %d)" % (version, VERSION))
    if (hsize, rsize, csize) != (HEADER.size, RECORD.size, CHUNK.size):
        raise TraceError("unexpected header/record/chunk sizes %d/%d/%d at offset 10" % (hsize, rsize, csize))
    off = HEADER.size
    events = []
    complete = False
    chunks = 0
    tids = set()
    seq = 0
    while off < n:
        if n - off < CHUNK.size:
            raise TraceError("truncated chunk header at offset %d (%d bytes left)" % (off, n - off))
        cmagic, tid, count, _sum = CHUNK.unpack_from(data, off)
        if cmagic == END_MAGIC:
            complete = True
            break
        if cmagic != CHUNK_MAGIC:
            raise TraceError("bad chunk magic 0x%08x at offset %d" % (cmagic, off))
        if not 1 <= count <= MAX_CHUNK:
            raise TraceError("chunk at offset %d claims %d records (1..%d allowed)" % (off, count, MAX_CHUNK))
        nbytes = count * RECORD.size
        if n - off - CHUNK.size < nbytes:
            raise TraceError("truncated chunk at offset %d: %d records (%d bytes) announced, %d bytes left"
                             % (off, count, nbytes, n - off - CHUNK.size))
        base = off + CHUNK.size
        for i, (ts, ptr, result, size_op) in enumerate(
                RECORD.iter_unpack(memoryview(data)[base:base + nbytes])):
            op = (size_op >> 48) & 0xFF
            if op not in OPS:
                raise TraceError("bad record at offset %d (op %d)" % (base + i * RECORD.size, op))
            events.append((ts, seq, tid, op, ptr, result, size_op & SIZE_MASK, size_op >> 56))
            seq += 1
        tids.add(tid)
        chunks += 1
        off = base + nbytes
    events.sort()
    info = {"pid": pid, "start_realtime_ns": start_rt, "clock_resolution_ns": res,
            "chunks": chunks, "threads": len(tids), "records": len(events),
            "complete": complete, "bytes": n}
    return events, info
