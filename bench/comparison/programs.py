"""Programs a comparison runs: the user's (--program NAME=COMMAND, or a file
of them) and the `apps` suite (bench/apps/apps.programs).

    progs = parse_specs(["sort=sort -n big.txt"], flag="--program")
    progs += parse_file(path, kind="program")
    metrics = read_metrics(path)                  # COMPARE_METRICS lines

A program file holds one program per line, `name = command` (or
`name=command`), blank lines and `#` comments ignored. Every command runs as
`/bin/sh -c COMMAND` under each allocator (LD_PRELOAD covers every process it
starts), with these variables set:
  COMPARE_SCRATCH  a fresh empty folder for this run (removed afterwards);
                   apps run inside it
  COMPARE_SCALE    the run's --scale (1 by default, --quick 0.3): a program
                   that can scale its work reads it
  COMPARE_METRICS  a file the program may append `key value` lines to (extra
                   numbers per run: requests/s, an idle RSS, ...)
  APPS             (apps only) the folder of the apps' scripts and inputs
"""

import re
from collections import namedtuple

Program = namedtuple("Program", "name kind command source")

_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


class ProgramError(Exception):
    pass


def _parse_line(text, where, kind):
    name, eq, command = text.partition("=")
    name, command = name.strip(), command.strip()
    if not eq or not name or not command:
        raise ProgramError("%s: expected NAME=COMMAND, got %r" % (where, text))
    if not _NAME.match(name):
        raise ProgramError("%s: program name %r: use letters, digits and _ . -" % (where, name))
    return Program(name, kind, command, where)


def parse_specs(specs, flag="--program", kind="program"):
    return [_parse_line(s, "%s %s" % (flag, s), kind) for s in specs]


def parse_file(path, kind="program"):
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except OSError as e:
        raise ProgramError("cannot read program file %s: %s" % (path, e.strerror))
    result = []
    for i, line in enumerate(lines, 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        result.append(_parse_line(stripped, "%s:%d" % (path, i), kind))
    return result


def check_unique(programs, reserved=()):
    seen = set(reserved)
    for p in programs:
        if p.name in seen:
            raise ProgramError("%s: the name %r is used twice (workloads and programs share one namespace)" % (
                p.source, p.name))
        seen.add(p.name)


def read_metrics(path):
    """{key: float} from `key value` lines; other lines are ignored (a program
    may write notes there too). A key given twice keeps its last value."""
    result = {}
    try:
        with open(path) as f:
            for line in f:
                parts = line.split()
                if len(parts) == 2 and _NAME.match(parts[0]):
                    try:
                        result[parts[0]] = float(parts[1])
                    except ValueError:
                        pass
    except OSError:
        pass
    return result


def output_difference(reference, actual, limit=160):
    """None when the two stdouts are identical bytes, else a short text:
    which line differs first and how."""
    if reference == actual:
        return None
    ref = reference.decode(errors="replace").splitlines()
    act = actual.decode(errors="replace").splitlines()
    for i, (a, b) in enumerate(zip(ref, act)):
        if a != b:
            return "stdout differs from glibc's at line %d: %r instead of %r" % (i + 1, b[:limit], a[:limit])
    if len(ref) != len(act):
        return "stdout differs from glibc's: %d lines instead of %d" % (len(act), len(ref))
    # Same lines once decoded and split: line endings or undecodable bytes differ.
    return "stdout differs from glibc's (line endings or bytes differ)"
