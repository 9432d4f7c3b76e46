"""Strategies as data, expanded into targets (in the spirit of tcmalloc's variants.bzl).

A strategy folder calls sa_strategy() once; the registry and the top-level
build-time choice read STRATEGIES. Adding a name here (and its folder) gives it
the conformance suite, the preload tests and every benchmark.
"""

# name -> Bazel label of its cc_library; the C symbol of its vtable is sa_<name>.
STRATEGIES = {
    "first_fit": "//strategies/first_fit",
    "segregated": "//strategies/segregated",
    "buddy": "//strategies/buddy",
}

def sa_strategy(name, srcs, hdrs = [], deps = [], **kwargs):
    """One strategy: its library, its libc override and its preloadable .so.

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
    native.cc_library(
        name = "malloc",
        srcs = ["//common:override.c"],
        # -fno-builtin: GCC must not turn malloc+memset into a call to calloc
        # inside calloc. The __libc_ aliases drop the glibc attributes.
        copts = ["-ftls-model=initial-exec", "-fno-builtin", "-Wno-missing-attributes"],
        local_defines = ["SA_OVERRIDE_STRATEGY=sa_" + name],
        deps = [":" + name],
        alwayslink = True,
        visibility = ["//visibility:public"],
    )
    native.cc_binary(
        name = "libsa_" + name + ".so",
        linkshared = True,
        deps = [":malloc"],
        visibility = ["//visibility:public"],
    )
