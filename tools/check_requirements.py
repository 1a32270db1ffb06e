"""Exit 0 when every pinned package in a requirements file is installed.

Used by ./bazelw so that a machine with everything present starts Bazel at
once, without asking pip (which is slow even when there is nothing to do).
"""
import sys
from importlib import metadata


def main(path: str) -> int:
    missing = []
    with open(path) as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            name, _, version = line.partition("==")
            try:
                if metadata.version(name) != version:
                    missing.append(line)
            except metadata.PackageNotFoundError:
                missing.append(line)
    if missing:
        print("missing: " + " ".join(missing), file=sys.stderr)
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
