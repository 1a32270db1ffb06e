"""Builds miniray's wheel from Bazel outputs (stdlib only).

    build_wheel.py OUT.whl VERSION PYTHON_TAG --file DEST=SRC ...

Each --file puts SRC in the wheel at DEST. Writes the .dist-info (METADATA,
WHEEL, top_level.txt, RECORD with sha256 hashes) as PEP 427 asks.
"""
import argparse
import base64
import hashlib
import zipfile


def _digest(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("version")
    parser.add_argument("python_tag")
    parser.add_argument("--file", action="append", default=[])
    parser.add_argument("--requires", action="append", default=[])
    parser.add_argument("--console-script", action="append", default=[],
                        help="NAME=module:function, installed as a command")
    args = parser.parse_args()

    dist_info = f"miniray-{args.version}.dist-info"
    entries = {}
    for spec in args.file:
        dest, src = spec.split("=", 1)
        with open(src, "rb") as f:
            entries[dest] = f.read()
    metadata = [
        "Metadata-Version: 2.1",
        "Name: miniray",
        f"Version: {args.version}",
        "Summary: Ray Core's programming model, small and fast: a C++ core with a Python API.",
        "Requires-Python: >=3.8",
    ] + [f"Requires-Dist: {r}" for r in args.requires]
    entries[f"{dist_info}/METADATA"] = ("\n".join(metadata) + "\n").encode()
    entries[f"{dist_info}/WHEEL"] = (
        "Wheel-Version: 1.0\nGenerator: miniray build_wheel.py\nRoot-Is-Purelib: false\n"
        f"Tag: {args.python_tag}-{args.python_tag}-linux_x86_64\n").encode()
    entries[f"{dist_info}/top_level.txt"] = b"_miniray_core\nminiray\n"
    if args.console_script:
        scripts = "".join(f"{s.split('=', 1)[0]} = {s.split('=', 1)[1]}\n"
                          for s in args.console_script)
        entries[f"{dist_info}/entry_points.txt"] = f"[console_scripts]\n{scripts}".encode()
    record = "".join(f"{name},{_digest(data)},{len(data)}\n" for name, data in sorted(entries.items()))
    record += f"{dist_info}/RECORD,,\n"
    entries[f"{dist_info}/RECORD"] = record.encode()

    with zipfile.ZipFile(args.out, "w", zipfile.ZIP_DEFLATED) as z:
        for name in sorted(entries):
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = 0o755 << 16 if name.endswith(".so") else 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, entries[name])


if __name__ == "__main__":
    main()
