#!/bin/sh
echo "coverage tools are not available offline; see third_party/README.md" >&2
exit 1
