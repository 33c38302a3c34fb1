#!/usr/bin/env python3
"""Checks the Debian packages that `cpack -G DEB` made (packaging/deb.cmake).

usage: check_debs.py BUILD_DIR [SOURCE_DIR]

  * the two packages, named and versioned from the project's version;
  * their Depends: the -dev package exactly the -dev packages its static libraries and its
    CMake config need; the milters package nothing but adduser (every binary is static);
  * their files: for each milter in /usr/sbin its units, conffile and man page; the tools;
    the headers, libraries and CMake files; nothing outside /usr and /etc, all root-owned;
  * no path of the build or source tree in any file but the binaries' own debug-free code;
  * binaries static and stripped, static libraries without debug information;
  * conffiles and maintainer scripts (sh -n).
Prints one line per problem and exits 1 if there is any.
"""
import gzip
import os
import re
import struct
import subprocess
import sys
import tempfile

build_dir = os.path.abspath(sys.argv[1])
source_dir = os.path.abspath(sys.argv[2]) if len(sys.argv) > 2 else os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
problems = []


def problem(text):
    problems.append(text)
    print("check_debs: " + text)


def run(*args):
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout


# The project version, as CMake has it.
with open(os.path.join(build_dir, "CMakeCache.txt")) as f:
    cache = f.read()
version = re.search(r"^CMAKE_PROJECT_VERSION:STATIC=(.*)$", cache, re.M).group(1)
arch = run("dpkg", "--print-architecture").strip()
multiarch = run("dpkg-architecture", "-qDEB_HOST_MULTIARCH").strip() if os.path.exists("/usr/bin/dpkg-architecture") else None

packages_dir = os.path.join(build_dir, "packages")
debs = {}
for name in ("libcppmilter-dev", "cppmilter-milters"):
    path = os.path.join(packages_dir, f"{name}_{version}-1_{arch}.deb")
    if os.path.exists(path):
        debs[name] = path
    else:
        problem(f"{path}: missing (found {sorted(os.listdir(packages_dir)) if os.path.isdir(packages_dir) else 'no directory'})")
if len(debs) != 2:
    sys.exit(1)


def fields(deb):
    out = {}
    for line in run("dpkg-deb", "-f", deb).splitlines():
        if line and not line[0].isspace() and ":" in line:
            key, value = line.split(":", 1)
            out[key] = value.strip()
    return out


def depends(value):
    return sorted(p.strip().split(" ")[0] for p in value.split(",") if p.strip())


# ---- control fields
dev_fields, milters_fields = fields(debs["libcppmilter-dev"]), fields(debs["cppmilter-milters"])
for name, f in (("libcppmilter-dev", dev_fields), ("cppmilter-milters", milters_fields)):
    if f.get("Version") != f"{version}-1":
        problem(f"{name}: Version {f.get('Version')!r}, expected {version}-1")
    if f.get("Architecture") != arch:
        problem(f"{name}: Architecture {f.get('Architecture')!r}")
    if not f.get("Maintainer") or not f.get("Description"):
        problem(f"{name}: no Maintainer or Description")
# Boost 1.81 (headers and Boost.Program_options, static), ICU's libicuuc.a, libidn2, libpsl,
# libunistring: what cmake/cppmilter-config.cmake.in finds, and nothing else.
dev_expected = [r"libboost1\.\d+-dev", r"libboost-program-options1\.\d+-dev", "libicu-dev", "libidn2-dev",
                "libpsl-dev", "libunistring-dev"]
dev_depends = depends(dev_fields.get("Depends", ""))
for pattern in dev_expected:
    if not any(re.fullmatch(pattern, d) for d in dev_depends):
        problem(f"libcppmilter-dev: Depends lacks {pattern}: {dev_depends}")
for d in dev_depends:
    if not any(re.fullmatch(p, d) for p in dev_expected):
        problem(f"libcppmilter-dev: Depends has {d}, which its libraries do not need")
if depends(milters_fields.get("Depends", "")) != ["adduser"]:
    problem(f"cppmilter-milters: Depends {milters_fields.get('Depends')!r}, expected adduser only "
            "(the binaries are static; anything else means a dynamic binary slipped in)")


# ---- file lists
def contents(deb):
    files = {}
    for line in run("dpkg-deb", "-c", deb).splitlines():
        parts = line.split(None, 5)
        mode, owner, path = parts[0], parts[1], parts[5]
        path = path.split(" -> ")[0]
        if path.startswith("./"):
            path = path[1:]
        files[path.rstrip("/") or "/"] = (mode, owner)
    return files


dev_files, milters_files = contents(debs["libcppmilter-dev"]), contents(debs["cppmilter-milters"])
for name, files in (("libcppmilter-dev", dev_files), ("cppmilter-milters", milters_files)):
    for path, (mode, owner) in files.items():
        if owner != "root/root":
            problem(f"{name}: {path} owned by {owner}")
        if not (path == "/" or path in ("/usr", "/etc") or path.startswith(("/usr/", "/etc/"))):
            problem(f"{name}: {path} is outside /usr and /etc")
        if path.startswith("/usr/local"):
            problem(f"{name}: {path}: packages must not install in /usr/local (configure with -DCMAKE_INSTALL_PREFIX=/usr)")

libdir = f"/usr/lib/{multiarch}" if multiarch else "/usr/lib"
for path in ["/usr/include/cppmilter/cppmilter.hpp", "/usr/include/cppmilter/asio/server.hpp",
             "/usr/include/cppmilter/mail/message.hpp"] + \
            [f"{libdir}/lib{lib}.a" for lib in ("cppmilter", "cppmilter_server", "cppmilter_client", "cppmilter_mail")] + \
            [f"{libdir}/cmake/cppmilter/{f}" for f in ("cppmilter-config.cmake", "cppmilter-config-version.cmake",
                                                       "cppmilter-targets.cmake", "cppmilter-mail-domain.cmake")]:
    if path not in dev_files:
        problem(f"libcppmilter-dev: {path} missing")
for path in dev_files:
    if path.startswith("/usr/include/cppmilter/contrib"):
        problem(f"libcppmilter-dev: {path}: contrib's libraries are not in the package, so its headers must not be")
    if path.startswith(("/usr/sbin", "/usr/bin", "/etc")):
        problem(f"libcppmilter-dev: {path} belongs in cppmilter-milters")

milters = sorted(p[len("/usr/sbin/cppmilter-"):] for p in milters_files if p.startswith("/usr/sbin/cppmilter-"))
# The milters every build has, and the ones whose libraries CI installs.
for required in ("sender-block", "tagger", "showcase", "stamp", "editor", "align", "seal", "dkim"):
    if required not in milters:
        problem(f"cppmilter-milters: /usr/sbin/cppmilter-{required} missing")
man_pages = os.path.exists(os.path.join(build_dir, "packaging", "man"))
for m in milters:
    wanted = [f"/etc/cppmilter/{m}.conf", f"/usr/lib/systemd/system/cppmilter-{m}.service",
              f"/usr/lib/systemd/system/cppmilter-{m}.socket"]
    if man_pages:
        wanted.append(f"/usr/share/man/man8/cppmilter-{m}.8.gz")
    for path in wanted:
        if path not in milters_files:
            problem(f"cppmilter-milters: {path} missing (milter {m})")
for tool in ("cppmilter-send", "cppmilter-inspect", "cppmilter-unseal"):
    for path in [f"/usr/bin/{tool}"] + ([f"/usr/share/man/man1/{tool}.1.gz"] if man_pages else []):
        if path not in milters_files:
            problem(f"cppmilter-milters: {path} missing")
if "/usr/share/doc/cppmilter-milters/systemd.md" not in milters_files:
    problem("cppmilter-milters: /usr/share/doc/cppmilter-milters/systemd.md missing")
for path in milters_files:
    if path.startswith(("/usr/include", libdir + "/cmake")) or path.endswith(".a"):
        problem(f"cppmilter-milters: {path} belongs in libcppmilter-dev")


# ---- what is inside the files
def elf_facts(data):
    """(is ELF, has PT_INTERP or PT_DYNAMIC, section names) of a 64-bit little-endian ELF file."""
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        return False, False, set()
    phoff, shoff = struct.unpack_from("<QQ", data, 0x20)
    phentsize, phnum, shentsize, shnum, shstrndx = struct.unpack_from("<HHHHH", data, 0x36)
    dynamic = any(struct.unpack_from("<I", data, phoff + i * phentsize)[0] in (2, 3) for i in range(phnum))
    names = set()
    if shnum and shstrndx < shnum:
        strtab_off = struct.unpack_from("<Q", data, shoff + shstrndx * shentsize + 0x18)[0]
        for i in range(shnum):
            name_off = struct.unpack_from("<I", data, shoff + i * shentsize)[0]
            end = data.index(b"\0", strtab_off + name_off)
            names.add(data[strtab_off + name_off:end].decode(errors="replace"))
    return True, dynamic, names


tree_paths = [p.encode() for p in {build_dir, source_dir, os.path.realpath(build_dir), os.path.realpath(source_dir)}]
with tempfile.TemporaryDirectory() as root:
    for deb in debs.values():
        run("dpkg-deb", "-x", deb, root)
    for top, _, names in os.walk(root):
        for n in names:
            path = os.path.join(top, n)
            shown = path[len(root):]
            if os.path.islink(path):
                continue
            with open(path, "rb") as f:
                data = f.read()
            is_elf, dynamic, sections = elf_facts(data)
            if is_elf:
                if dynamic:
                    problem(f"{shown}: a dynamic executable (not linked -static)")
                if ".symtab" in sections or any(s.startswith(".debug") for s in sections):
                    problem(f"{shown}: not stripped")
                continue  # code may name its sources (__FILE__ in assertions); not a path it uses
            if shown.endswith(".a"):
                if b".debug_info" in data:
                    problem(f"{shown}: debug information left in the static library")
                continue
            if shown.endswith(".gz"):
                data = gzip.decompress(data)
            for tree in tree_paths:
                if tree in data:
                    problem(f"{shown}: names the build or source tree ({tree.decode()})")

    # ---- control area of the milters package
    control = os.path.join(root, "DEBIAN")
    run("dpkg-deb", "-e", debs["cppmilter-milters"], control)
    with open(os.path.join(control, "conffiles")) as f:
        conffiles = sorted(f.read().split())
    etc_files = sorted(p for p in milters_files if p.startswith("/etc/") and p.endswith(".conf"))
    if conffiles != etc_files:
        problem(f"cppmilter-milters: conffiles {conffiles} differ from its /etc files {etc_files}")
    for script in ("postinst", "prerm", "postrm"):
        path = os.path.join(control, script)
        if not os.access(path, os.X_OK):
            problem(f"cppmilter-milters: {script} missing or not executable")
            continue
        if subprocess.run(["sh", "-n", path]).returncode != 0:
            problem(f"cppmilter-milters: {script} is not valid sh")
        with open(path) as f:
            text = f.read()
        for m in milters:
            if f"cppmilter-{m}.socket" not in text:
                problem(f"cppmilter-milters: {script} does not handle cppmilter-{m}.socket")

print(f"check_debs: {len(milters)} milters ({', '.join(milters)}); "
      f"libcppmilter-dev Depends: {', '.join(dev_depends)}; cppmilter-milters Depends: {milters_fields.get('Depends')}")
if problems:
    print(f"check_debs: {len(problems)} problem(s)")
    sys.exit(1)
print("check_debs: ok")
