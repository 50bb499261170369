"""Lets PyPI's `torch` wheel import on a machine without the CUDA libraries.

PyPI has no CPU-only Linux x86_64 torch wheel: the plain `torch` wheel is the
CUDA build, and its shared libraries (libtorch_cpu.so included) list
libcudart, cuBLAS, cuDNN, NCCL, ... as DT_NEEDED, so `import torch` fails unless
the nvidia-* wheels (~3 GB) are installed. The benchmark runs PyTorch on the
CPU only, where none of those functions is ever called. So, instead of 3 GB of
CUDA, we build tiny stand-in libraries with the same SONAMEs and symbol
versions, every function returning an error code (100 = "no CUDA device" in
the runtime and driver APIs), and drop them next to libtorch (its RPATH has
$ORIGIN). torch then sees no GPU: torch.cuda.is_available() is False.

Usage: python torch_cuda_stubs.py <site-packages>/torch/lib
Needs gcc and readelf (binutils).
"""

import os
import re
import subprocess
import sys
import tempfile

# Libraries loaded when `import torch` runs; the rest (libcaffe2_nvrtc,
# libtorch_cuda_linalg) load lazily on first CUDA use, which never happens.
EAGER = [
    "libtorch_global_deps.so",
    "libtorch_cpu.so",
    "libtorch_cuda.so",
    "libtorch_python.so",
    "libc10_cuda.so",
    "libtorch_nvshmem.so",
    "libtorch.so",
]

# Version node → SONAME where they differ (cuda libraries name their node after the SONAME).
VERSION_SONAME = {"NVSHMEM": "libnvshmem_host.so.3"}

# Unversioned symbols, by prefix, for libraries that ship without symbol versions.
UNVERSIONED = [
    (re.compile(r"^cusparseLt"), "libcusparseLt.so.0"),
    (re.compile(r"^nccl"), "libnccl.so.2"),
    (re.compile(r"^cuFile"), "libcufile.so.0"),
    (re.compile(r"^nvshmem"), "libnvshmem_host.so.3"),
]

# Functions that return a C string, which callers print: give them one.
STRING_FN = re.compile(r"(ErrorString|ErrorName|StatusString|StatusName|GetLastErrorString)$")

MARKER = "CUDA_STUBS.txt"


def run(cmd):
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


def needed(lib):
    return re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", run(["readelf", "-d", lib]))


def undefined(lib):
    """(name, version or None) of every undefined symbol of `lib`."""
    out = []
    for line in run(["readelf", "--dyn-syms", "-W", lib]).splitlines():
        f = line.split()
        if len(f) >= 8 and f[6] == "UND" and f[7]:
            name, _, version = f[7].partition("@")
            out.append((name, version.lstrip("@") or None))
    return out


def main(libdir):
    present = set(os.listdir(libdir))
    missing = set()
    for lib in EAGER:
        for dep in needed(os.path.join(libdir, lib)):
            if dep.startswith(("libcu", "libnv", "libnccl")) and dep not in present:
                missing.add(dep)
    symbols = {soname: {} for soname in missing}  # soname → {symbol: version node or None}
    for lib in EAGER:
        for name, version in undefined(os.path.join(libdir, lib)):
            if version:
                soname = VERSION_SONAME.get(version, version)
                if soname in symbols:
                    symbols[soname][name] = version
            else:
                for pattern, soname in UNVERSIONED:
                    if pattern.match(name) and soname in symbols:
                        symbols[soname][name] = None
    with tempfile.TemporaryDirectory() as tmp:
        for soname, syms in sorted(symbols.items()):
            c_path = os.path.join(tmp, soname + ".c")
            map_path = os.path.join(tmp, soname + ".map")
            with open(c_path, "w") as c:
                c.write('static const char unavailable[] = "CUDA is not available (CPU-only stub library)";\n')
                for name in sorted(syms):
                    if STRING_FN.search(name):
                        c.write(f"const char *{name}(void) {{ return unavailable; }}\n")
                    else:
                        c.write(f"int {name}(void) {{ return 100; }}\n")
            nodes = sorted({v for v in syms.values() if v})
            with open(map_path, "w") as m:
                # One node holding every symbol; an unversioned library gets a plain export list.
                for i, node in enumerate(nodes or [None]):
                    label = f"{node} " if node else ""
                    body = "global: *;" if i == 0 else ""
                    m.write(f"{label}{{ {body} }};\n")
            run(["gcc", "-shared", "-fPIC", "-O0", "-o", os.path.join(libdir, soname), f"-Wl,-soname,{soname}",
                 f"-Wl,--version-script={map_path}", c_path])
            print(f"  stub {soname}: {len(syms)} functions", flush=True)
    with open(os.path.join(libdir, MARKER), "w") as f:
        f.write("CPU-only stand-ins built by bench/torch_cuda_stubs.py: " + " ".join(sorted(missing)) + "\n")


if __name__ == "__main__":
    main(sys.argv[1])
