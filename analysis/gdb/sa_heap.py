"""gdb command `sa-heap`: a stratalloc process heap in a live process or a
core file.

    (gdb) source analysis/gdb/sa_heap.py
    (gdb) sa-heap            # header, config, mappings, large objects
    (gdb) sa-heap stats      # live process only: sa_stats_write(heap, TEXT, 2)
    (gdb) sa-heap dump       # live process only: sa_heap_dump(heap, 2), every block
    (gdb) sa-heap all        # all of the above

What it reads from memory (works on a core file and on a live process): the
process heap pointer (`process_heap`, a static of common/override.c; the
inferior needs debug info, which the default build has: --copt=-g), then the
sa_heap_t header of strategy.h: the strategy's name, its config, the mapping
totals, the counters of large objects, and the list of segments
(heap->segments: address, size, kind; a large object's user pointer and
size). The blocks inside a strategy's segments have a layout only the
strategy knows: in a core file they are not walked. In a live process `stats`
and `dump` call sa_stats_write / sa_heap_dump in the inferior (they write to
the inferior's stderr, fd 2, and never allocate); that needs the heap's locks
free, so the command refuses when the segment lock is held (a thread stopped
inside the allocator) rather than deadlock.
"""
import gdb


def _heap():
    try:
        sym = gdb.lookup_static_symbol("process_heap")
    except AttributeError:  # gdb < 10
        sym = None
    if sym is None:
        sym = gdb.lookup_symbol("process_heap")[0]
    if sym is None:
        raise gdb.GdbError("sa-heap: no symbol process_heap: is a stratalloc malloc linked or "
                           "preloaded, with debug info?")
    heap = sym.value()
    if int(heap) == 0:
        raise gdb.GdbError("sa-heap: the process heap was never created (no allocation yet)")
    return heap


def _is_live():
    inf = gdb.selected_inferior()
    if inf.pid == 0:
        return False
    conn = getattr(inf, "connection", None)  # gdb >= 11
    if conn is not None:
        return conn.type != "core"
    return "core dump" not in gdb.execute("info target", to_string=True)


def _call(function, heap, fmt=None):
    """Calls function(heap[, fmt], 2) in the inferior; False if it is not there."""
    try:
        gdb.parse_and_eval(function)
    except gdb.error:
        print("sa-heap: %s is not in this program (linked statically without it?)" % function)
        return False
    args = "(sa_heap_t *)%d, %s2" % (int(heap), "%d, " % fmt if fmt is not None else "")
    try:
        gdb.execute("call (int)%s(%s)" % (function, args), to_string=True)
    except gdb.error as e:
        print("sa-heap: calling %s in the inferior failed: %s" % (function, e))
        return False
    return True


def _human(n):
    n = int(n)
    for unit, s in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= s:
            return "%.1f %s" % (n / s, unit)
    return "%d B" % n


class SaHeap(gdb.Command):
    """Print the stratalloc process heap: sa-heap [summary|stats|dump|all]."""

    def __init__(self):
        super().__init__("sa-heap", gdb.COMMAND_DATA)

    def invoke(self, arg, from_tty):
        what = (arg or "summary").strip()
        if what not in ("summary", "stats", "dump", "all"):
            raise gdb.GdbError("usage: sa-heap [summary|stats|dump|all]")
        heap = _heap()
        h = heap.dereference()
        live = _is_live()
        if what in ("summary", "all"):
            self.summary(heap, h, live)
        if what in ("stats", "dump", "all"):
            if not live:
                print("sa-heap: %s needs a live process (this is a core file): the summary above "
                      "is what memory alone tells" % what)
                return
            lock = int(h["segment_lock"]["__data"]["__lock"])
            if lock != 0:
                print("sa-heap: the heap's segment lock is held (a thread is inside the "
                      "allocator): not calling into the inferior")
                return
            if what in ("stats", "all"):
                print("sa-heap: sa_stats_write(heap, SA_FORMAT_TEXT, 2) in the inferior:", flush=True)
                _call("sa_stats_write", heap, 0)
            if what in ("dump", "all"):
                print("sa-heap: sa_heap_dump(heap, 2) in the inferior:", flush=True)
                _call("sa_heap_dump", heap)

    def summary(self, heap, h, live):
        name = h["strategy"].dereference()["name"].string()
        print("stratalloc heap at 0x%x: strategy %s (%s)" % (int(heap), name,
                                                            "live process" if live else "core file"))
        cfg = h["config"]
        fields = [f.name for f in cfg.type.fields()]
        print("config: " + ", ".join("%s=%d" % (f, int(cfg[f])) for f in fields))
        print("mapped: %s now, %s peak, %s ever" % (_human(h["mapped_bytes"]), _human(h["peak_mapped_bytes"]),
                                                    _human(h["total_mapped_bytes"])))
        large = h["large"]
        print("large objects: %d allocated, %d freed, %d live (%s)" % (
            int(large["allocations"]), int(large["frees"]), int(large["current_blocks"]),
            _human(large["current_bytes"])))
        seg = h["segments"]
        kinds = {1: "heap", 2: "large"}
        count = {"heap": [0, 0], "large": [0, 0]}
        rows = []
        seen = 0
        while int(seg) != 0 and seen < 100000:
            s = seg.dereference()
            kind = kinds.get(int(s["kind"]), "kind %d" % int(s["kind"]))
            count.setdefault(kind, [0, 0])
            count[kind][0] += 1
            count[kind][1] += int(s["size"])
            if len(rows) < 64:
                extra = ""
                if kind == "large":
                    extra = " user 0x%x usable %d" % (int(s["user"]), int(s["usable"]))
                elif int(s["usable"]):
                    extra = " blocks of %d" % int(s["usable"])
                rows.append("  0x%x %10d %-5s%s" % (int(seg), int(s["size"]), kind, extra))
            seg = s["next"]
            seen += 1
        print("segments: %d (%s)" % (seen, ", ".join("%s %d = %s" % (k, v[0], _human(v[1]))
                                                     for k, v in count.items() if v[0])))
        print("  address           size kind")
        for r in rows:
            print(r)
        if seen > len(rows):
            print("  ... %d more" % (seen - len(rows)))


SaHeap()
