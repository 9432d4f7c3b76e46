"""The comparison's allocator list as data: every strategy registered in
strategies/variants.bzl (STRATEGIES) becomes a --stratalloc NAME=PATH
argument and a data dependency of //bench:compare, //bench:callgrind and
their tests, so a new strategy appears without code changes.
"""

def stratalloc_libraries(strategies):
    """dict strategy name -> label of its preloadable libsa_<name>.so.

    Same convention as tests/preload/preload.bzl: the .so lives in the
    package of the strategy's cc_library label."""
    result = {}
    for name, label in strategies.items():
        package = label.split(":")[0]
        result[name] = package + ":libsa_" + name + ".so"
    return result

def stratalloc_args(strategies):
    """--stratalloc=NAME=$(rootpath ...) for every registered strategy."""
    return ["--stratalloc=%s=$(rootpath %s)" % (name, so) for name, so in stratalloc_libraries(strategies).items()]

def compare_default_arg(names):
    """--default-stratalloc=a,b: the registered strategies a run without
    --allocators takes (strategies/variants.bzl COMPARE_DEFAULT)."""
    return ["--default-stratalloc=" + ",".join(names)]

def stratalloc_data(strategies):
    return stratalloc_libraries(strategies).values()
