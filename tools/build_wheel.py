"""Builds miniray's wheel from Bazel outputs (stdlib only, Python 3.11+).

    build_wheel.py OUT.whl VERSION PYTHON_TAG --pyproject pyproject.toml \
        --file DEST=SRC ...

Each --file puts SRC in the wheel at DEST. The package's metadata (summary,
dependencies, extras, console scripts) is read from pyproject.toml, the one
place it is written; VERSION (from python/BUILD.bazel, which names the
wheel file) must match it. Writes the .dist-info (METADATA, WHEEL,
entry_points.txt, top_level.txt, RECORD with sha256 hashes) as PEP 427 asks.
"""
import argparse
import base64
import hashlib
import sys
import tomllib
import zipfile


def _digest(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("version")
    parser.add_argument("python_tag")
    parser.add_argument("--pyproject", required=True)
    parser.add_argument("--file", action="append", default=[])
    args = parser.parse_args()
    with open(args.pyproject, "rb") as f:
        project = tomllib.load(f)["project"]
    if project["version"] != args.version:
        sys.exit(f"build_wheel.py: pyproject.toml says version {project['version']}, "
                 f"python/BUILD.bazel says {args.version}; make them agree")

    dist_info = f"miniray-{args.version}.dist-info"
    entries = {}
    for spec in args.file:
        dest, src = spec.split("=", 1)
        with open(src, "rb") as f:
            entries[dest] = f.read()
    metadata = [
        "Metadata-Version: 2.1",
        f"Name: {project['name']}",
        f"Version: {args.version}",
        f"Summary: {project['description']}",
        f"Requires-Python: {project['requires-python']}",
    ] + [f"Requires-Dist: {r}" for r in project.get("dependencies", [])]
    for extra, requirements in project.get("optional-dependencies", {}).items():
        metadata.append(f"Provides-Extra: {extra}")
        metadata += [f'Requires-Dist: {r}; extra == "{extra}"' for r in requirements]
    entries[f"{dist_info}/METADATA"] = ("\n".join(metadata) + "\n").encode()
    entries[f"{dist_info}/WHEEL"] = (
        "Wheel-Version: 1.0\nGenerator: miniray build_wheel.py\nRoot-Is-Purelib: false\n"
        f"Tag: {args.python_tag}-{args.python_tag}-linux_x86_64\n").encode()
    entries[f"{dist_info}/top_level.txt"] = b"_miniray_core\n_miniray_net\nminiray\n"
    scripts = project.get("scripts", {})
    if scripts:
        lines = "".join(f"{name} = {target}\n" for name, target in scripts.items())
        entries[f"{dist_info}/entry_points.txt"] = f"[console_scripts]\n{lines}".encode()
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
