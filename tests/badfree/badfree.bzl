"""The bad-free suite per registered strategy, generated from STRATEGY_INFO.

For each strategy (e.target is its Bazel-safe name):
  api_<target>      the cases through the sa_ API on a fresh heap (death tests)
  libc_<target>     through the libc names linked into the driver (e.malloc)
  preload_<target>  through the libc names of LD_PRELOAD=libsa_<target>.so
  badfree_<target>  a test_suite of the three
libc_ and preload_ are incompatible under asan and tsan (they own malloc).

KNOWN_FAILURES lists, per kind and strategy, the cases that fail today: the
target above runs every other case, and <target>_known_failures (tagged
manual: `./bazelw test //tests/badfree:api_thread_cache_segregated_known_failures`)
runs exactly those. Delete an entry when its cases pass.
"""

_INTERPOSABLE = select({
    "//:malloc_interposable": [],
    "//conditions:default": ["@platforms//:incompatible"],
})

# kind -> strategy name -> cases that fail today (see README.md). None do.
KNOWN_FAILURES = {kind: {} for kind in ["api", "libc", "preload"]}

def _filter(cases, negative):
    patterns = ":".join(["*.Case/" + c for c in cases])
    return "--gtest_filter=" + ("-" if negative else "") + patterns

def _test(name, kind, strategy, deps, args, data = [], compat = None):
    failing = KNOWN_FAILURES[kind].get(strategy, [])
    common = dict(
        size = "small",
        deps = deps,
        data = data,
        target_compatible_with = compat,
    )
    native.cc_test(
        name = name,
        args = args + ([_filter(failing, True)] if failing else []),
        tags = ["badfree"],
        **common
    )
    if failing:
        native.cc_test(
            name = name + "_known_failures",
            args = args + [_filter(failing, False)],
            tags = ["badfree", "manual"],
            **common
        )

def badfree_tests(strategies):
    for e in strategies.values():
        _test(
            name = "api_" + e.target,
            kind = "api",
            strategy = e.name,
            deps = [":api_test_lib"],
            args = ["--strategy=" + e.name],
        )
        native.cc_binary(
            name = "driver_" + e.target,
            srcs = ["driver.c"],
            copts = ["-fno-builtin"],
            linkstatic = True,
            deps = [":cases", e.malloc],
            target_compatible_with = _INTERPOSABLE,
        )
        _test(
            name = "libc_" + e.target,
            kind = "libc",
            strategy = e.name,
            deps = [":run_test_lib"],
            data = [":driver_" + e.target],
            args = ["--strategy=" + e.name, "--driver=$(rootpath :driver_%s)" % e.target],
            compat = _INTERPOSABLE,
        )
        _test(
            name = "preload_" + e.target,
            kind = "preload",
            strategy = e.name,
            deps = [":run_test_lib"],
            data = [":driver_plain", e.so],
            args = [
                "--strategy=" + e.name,
                "--driver=$(rootpath :driver_plain)",
                "--preload=$(rootpath %s)" % e.so,
            ],
            compat = _INTERPOSABLE,
        )
        native.test_suite(
            name = "badfree_" + e.target,
            tests = [":api_" + e.target, ":libc_" + e.target, ":preload_" + e.target],
        )
