"""The allocators a comparison can run, and the check that each one really
answers malloc before a run starts.

    entries = catalogue(stratalloc_specs, user_specs)   # [Allocator]
    problems = validate(chosen, driver)                  # [] or messages

glibc is the process's own allocator (nothing preloaded); jemalloc,
tcmalloc and mimalloc are Debian's libraries (skipped with a note when
missing); every stratalloc library registered in strategies/variants.bzl
comes from bench/BUILD as --stratalloc NAME=PATH; a user adds any
preloadable allocator with --allocator NAME=PATH.so (another allocator, or a
saved copy of a stratalloc library from an earlier commit).
"""

import os
import re
import subprocess
from collections import namedtuple

import runner

LIBDIR = "/usr/lib/x86_64-linux-gnu"

# kind: "system" (glibc or a Debian package), "stratalloc" (registered),
# "user" (--allocator). detect: what compare_driver reports behind malloc.
Allocator = namedtuple("Allocator", "name kind library package detect")

SYSTEM = [
    Allocator("glibc", "system", None, None, "glibc"),
    Allocator("jemalloc", "system", LIBDIR + "/libjemalloc.so.2", "libjemalloc2", "jemalloc"),
    Allocator("tcmalloc", "system", LIBDIR + "/libtcmalloc_minimal.so.4", "libtcmalloc-minimal4", "tcmalloc"),
    Allocator("mimalloc", "system", LIBDIR + "/libmimalloc.so.2", "libmimalloc2.0", "mimalloc"),
]
PACKAGES = [a.package for a in SYSTEM if a.package]

_NAME = re.compile(r"^[A-Za-z0-9_.+-]+$")


class AllocatorError(Exception):
    pass


def parse_spec(spec, flag):
    """NAME=PATH -> (name, absolute path); a malformed spec raises."""
    name, eq, path = spec.partition("=")
    if not eq or not name or not path:
        raise AllocatorError("%s %r: expected NAME=PATH" % (flag, spec))
    if not _NAME.match(name):
        raise AllocatorError("%s %r: a name is letters, digits and _ . + -" % (flag, spec))
    return name, os.path.abspath(os.path.expanduser(path))


def catalogue(stratalloc_specs, user_specs=()):
    """Every allocator the run knows, in display order: system, registered
    stratalloc libraries, then the user's. A user name that is already taken
    raises."""
    entries = list(SYSTEM)
    for spec in stratalloc_specs:
        name, path = parse_spec(spec, "--stratalloc")
        entries.append(Allocator(name, "stratalloc", path, None, "stratalloc"))
    taken = {e.name for e in entries}
    for spec in user_specs:
        name, path = parse_spec(spec, "--allocator")
        if name in taken:
            raise AllocatorError("--allocator %s: the name %s is already an allocator (%s); choose another" % (
                spec, name, ", ".join(sorted(taken))))
        taken.add(name)
        entries.append(Allocator(name, "user", path, None, None))
    return entries


def env_of(alloc):
    return {"LD_PRELOAD": alloc.library} if alloc.library else {}


def probe(alloc, driver, timeout=30):
    """Runs `compare_driver --which-malloc` under the allocator: None if it
    answers malloc, else a message naming the library and what went wrong."""
    if alloc.library is None:
        return None
    if not os.path.exists(alloc.library):
        return "%s: %s does not exist" % (alloc.name, alloc.library)
    if not os.path.isfile(alloc.library):
        return "%s: %s is not a file" % (alloc.name, alloc.library)
    env = dict(os.environ, LD_PRELOAD=alloc.library)
    try:
        proc = subprocess.run([driver, "--which-malloc"], env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return "%s: a program preloading %s did not finish in %d s" % (alloc.name, alloc.library, timeout)
    if "cannot be preloaded" in proc.stderr:
        why = proc.stderr.strip().splitlines()[0]
        return "%s: %s does not load: %s" % (alloc.name, alloc.library, why)
    if proc.returncode != 0:
        return "%s: a program preloading %s failed (exit %d): %s" % (
            alloc.name, alloc.library, proc.returncode, " ".join(proc.stderr.strip().splitlines()[-3:]))
    info = runner.driver_json(proc.stdout)
    if info is None:
        return "%s: no answer from a program preloading %s" % (alloc.name, alloc.library)
    obj = info.get("malloc_object") or ""
    if not obj or os.path.realpath(obj) != os.path.realpath(alloc.library):
        return "%s: %s loads but does not answer malloc (malloc comes from %s)" % (
            alloc.name, alloc.library, obj or "nowhere")
    if not info.get("malloc_ok"):
        return "%s: malloc of %s returned NULL" % (alloc.name, alloc.library)
    return None


def select(requested, entries, default=None):
    """The requested names (comma-separated, in the order given); "all":
    every entry; nothing requested: every entry but the registered
    strategies outside default (a list of names; None: all of them).
    Unknown names raise with the list of valid ones."""
    valid = [e.name for e in entries]
    if requested and requested.strip() == "all":
        return list(entries)
    if not requested:
        unknown = [n for n in default or () if n not in valid]
        if unknown:
            raise AllocatorError("the default strategies name %s, which is not registered; registered: %s" % (
                ", ".join(unknown), ", ".join(e.name for e in entries if e.kind == "stratalloc")))
        return [e for e in entries if e.kind != "stratalloc" or default is None or e.name in default]
    names = list(dict.fromkeys(n.strip() for n in requested.split(",") if n.strip()))
    unknown = [n for n in names if n not in valid]
    if unknown:
        raise AllocatorError("unknown allocator %s; valid allocators: %s" % (
            ", ".join(repr(u) for u in unknown), ", ".join(valid)))
    by = {e.name: e for e in entries}
    return [by[n] for n in names]
