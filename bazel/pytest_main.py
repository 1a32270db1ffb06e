"""Entry point for miniray_py_test: runs pytest on the test's own file."""
import os
import sys

import pytest

if __name__ == "__main__":
    # Bazel passes the test file's workspace-relative path in MINIRAY_TEST_SRC.
    src = os.environ["MINIRAY_TEST_SRC"]
    args = [src, "-q", "-p", "no:cacheprovider", "-p", "no:benchmark"]
    sys.exit(pytest.main(args + sys.argv[1:]))
