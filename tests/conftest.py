import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

from helpers import cpu_capability  # noqa: E402,F401  (fixture available to every test)

# [Note: fuzz budget] Property-based tests (tests/test_fuzz_*.py, the `hypothesis` test extra)
# run a fixed number of examples from a fixed seed in CI (derandomize: the same examples on
# every run, no example database written into the tree), so the suite's time is bounded and a
# failure reproduces. DEEPCORE_FUZZ_EXAMPLES=<n> runs n examples per test with fresh random
# seeds instead, for a longer hunt:
#   DEEPCORE_FUZZ_EXAMPLES=2000 python -m pytest tests/test_fuzz_*
# CI runs 100 examples per test (19 tests, 1,900 examples, a few seconds); at 40 the budget
# missed a pooling segfault that a 400-example run found (test_pool.py, odd widths, 'same').
try:
    from hypothesis import HealthCheck, settings
except ImportError:  # the fuzz tests skip themselves (pytest.importorskip)
    pass
else:
    _common = dict(
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        print_blob=True,
    )
    settings.register_profile("ci", max_examples=100, derandomize=True, **_common)
    settings.register_profile(
        "long",
        max_examples=int(os.environ.get("DEEPCORE_FUZZ_EXAMPLES", "0") or 0) or 100,
        derandomize=False,
        **_common,
    )
    settings.load_profile("long" if os.environ.get("DEEPCORE_FUZZ_EXAMPLES") else "ci")


# [Note: gpu marker] Tests marked `gpu` run only where tensors on "cuda" can exist: deepcore
# built with CUDA, a CUDA GPU present, CuPy importable (deepcore._array.require_cuda, whose
# message becomes the skip reason). Elsewhere they skip cleanly, so the suite passes on a machine
# without a GPU; tools/gpu_check.sh runs them (`pytest -m gpu`) on one.
def _gpu_skip_reason():
    try:
        from deepcore._array import require_cuda

        require_cuda()
    except Exception as e:  # any failure to set up CUDA is a reason to skip
        return f"needs a CUDA GPU: {e}"
    return None


def pytest_collection_modifyitems(config, items):
    gpu_items = [item for item in items if item.get_closest_marker("gpu")]
    if not gpu_items:
        return
    reason = _gpu_skip_reason()
    if reason is None:
        return
    import pytest

    skip = pytest.mark.skip(reason=reason)
    for item in gpu_items:
        item.add_marker(skip)
