"""Strategies as data, expanded into targets (in the spirit of tcmalloc's variants.bzl).

A back-end folder calls sa_strategy() once; a front-end folder calls
sa_front_end() once, which makes one strategy per back-end. The registry,
the top-level build-time choice and the test generators read STRATEGIES.
Adding a back-end to BACKENDS (and its folder) gives it, and the thread
cache over it, the conformance suite, the preload and override tests and
every benchmark.
"""

# Back-ends: a folder //strategies/<name> with a vtable sa_<name>.
BACKENDS = ["first_fit", "segregated", "buddy"]

# Front-ends: a folder //strategies/<name> whose vtable composes over any
# back-end; "<front>+<back>" is a strategy of its own.
FRONTENDS = ["thread_cache"]

def _entry(name, frontend, backend):
    # Names may hold '+'; targets and C symbols may not.
    target = name.replace("+", "_")
    package = "//strategies/" + (frontend if frontend else backend)
    return struct(
        name = name,  # the strategy's name string (sa_strategy_find)
        target = target,  # Bazel-safe: thread_cache_segregated
        symbol = "sa_" + target,  # its const sa_strategy_t
        frontend = frontend,  # None for a bare back-end
        backend = backend,
        library = package + ":" + target,  # cc_library: the sa_ API
        malloc = package + ":" + (target + "_malloc" if frontend else "malloc"),  # libc names
        so = package + ":libsa_" + target + ".so",  # for LD_PRELOAD
    )

# name -> entry (struct above), back-ends first (registry order).
STRATEGY_INFO = dict(
    [(b, _entry(b, None, b)) for b in BACKENDS] +
    [(f + "+" + b, _entry(f + "+" + b, f, b)) for f in FRONTENDS for b in BACKENDS],
)

# The strategies //bench:compare runs when --allocators is not given (the
# rest by name, or all with --allocators all): each back-end bare and the
# thread cache over segregated. The thread cache over first_fit or buddy
# measures their locks until they have batch paths (issue 13), and running
# them took a fifth of the default run (22% at cef8c93).
COMPARE_DEFAULT = ["first_fit", "segregated", "buddy", "thread_cache+segregated"]

[fail("COMPARE_DEFAULT names %s, which is not a strategy" % n) for n in COMPARE_DEFAULT if n not in STRATEGY_INFO]

# name -> label of its cc_library, same order: the original shape, which
# bench/ reads (bench/compare.bzl derives <package>:libsa_<name>.so from it;
# sa_front_end() adds aliases of that spelling).
STRATEGIES = {name: e.library for name, e in STRATEGY_INFO.items()}

_OVERRIDE_COPTS = [
    "-ftls-model=initial-exec",
    # GCC must not turn malloc+memset into a call to calloc inside calloc.
    "-fno-builtin",
    # The __libc_ aliases drop the glibc attributes.
    "-Wno-missing-attributes",
]

# Link flags of every preloadable .so: the toolchain adds -lstdc++ -lm after
# -no-as-needed; as-needed drops them (nothing here is C++), so LD_PRELOAD
# does not load and relocate libstdc++ into every program (about 2% of a
# short run's time was the loader resolving its symbols).
SA_SHARED_LINKOPTS = ["-Wl,--as-needed"]

def _override_targets(entry, library, malloc_name, defines = []):
    native.cc_library(
        name = malloc_name,
        srcs = ["//common:override.c"],
        copts = _OVERRIDE_COPTS,
        local_defines = ["SA_OVERRIDE_STRATEGY=" + entry.symbol] + defines,
        deps = [library],
        alwayslink = True,
        visibility = ["//visibility:public"],
    )
    native.cc_binary(
        name = "libsa_" + entry.target + ".so",
        linkshared = True,
        linkopts = SA_SHARED_LINKOPTS,
        deps = [":" + malloc_name],
        visibility = ["//visibility:public"],
    )

def sa_strategy(name, srcs, hdrs = [], deps = [], **kwargs):
    """One back-end: its library, its libc override and its preloadable .so.

    Targets: :<name> (cc_library, the sa_ API), :malloc (cc_library that also
    defines malloc/free/... over one process heap of this strategy), and
    :libsa_<name>.so (for LD_PRELOAD).
    """
    native.cc_library(
        name = name,
        srcs = srcs,
        hdrs = hdrs,
        copts = ["-ftls-model=initial-exec"],
        deps = deps + ["//common"],
        alwayslink = True,
        visibility = ["//visibility:public"],
        **kwargs
    )
    _override_targets(STRATEGY_INFO[name], ":" + name, "malloc")

def sa_front_end(name, srcs, hdrs = [], deps = [], vtable_macro = None, override_defines = []):
    """A front-end over every back-end: one strategy per back-end.

    Targets: :<name>_core (cc_library, the front-end's code), and per back-end
    B the strategy "<name>+B" as :<name>_B (cc_library with the generated
    vtable sa_<name>_B), :<name>_B_malloc and :libsa_<name>_B.so.

    Args:
      name: the front-end's name (a FRONTENDS entry, its folder).
      srcs, hdrs: its sources.
      deps: libraries its code uses besides //common.
      vtable_macro: a macro of hdrs[0] expanding to the vtable initializer,
        called as MACRO("<name>+B", &sa_B).
      override_defines: extra defines for its libc override (its fast path).
    """
    native.cc_library(
        name = name + "_core",
        srcs = srcs,
        hdrs = hdrs,
        copts = ["-ftls-model=initial-exec"],
        deps = deps + ["//common"],
        visibility = ["//visibility:public"],
    )
    for entry in STRATEGY_INFO.values():
        if entry.frontend != name:
            continue
        backend = STRATEGY_INFO[entry.backend]
        native.genrule(
            name = entry.target + "_vtable",
            outs = [entry.target + "_vtable.c"],
            cmd = "printf '%s' > $@" % "".join([  # the text is printf's format: no '%' in it
                "/* generated by sa_front_end() in strategies/variants.bzl */\\n",
                "#include \"%s/%s\"\\n" % (native.package_name(), hdrs[0]),
                "extern const sa_strategy_t %s;\\n" % backend.symbol,
                "const sa_strategy_t %s =\\n" % entry.symbol,
                "    %s(\"%s\", &%s);\\n" % (vtable_macro, entry.name, backend.symbol),
            ]),
        )
        native.cc_library(
            name = entry.target,
            srcs = [":" + entry.target + "_vtable"],
            deps = [":" + name + "_core", backend.library],
            alwayslink = True,
            visibility = ["//visibility:public"],
        )
        _override_targets(entry, ":" + entry.target, entry.target + "_malloc", override_defines)
        # The .so under the strategy's own name ('+' is legal in a Bazel
        # name), for code that spells it libsa_<name>.so.
        native.alias(
            name = "libsa_" + entry.name + ".so",
            actual = ":libsa_" + entry.target + ".so",
            visibility = ["//visibility:public"],
        )
