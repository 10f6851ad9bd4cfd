"""Trim a freshly bootstrapped Debian tree to what python3 + numpy need to run.

Runs inside the tree (chroot) with the tree's own python3, so the build host
needs no extra tools:  chroot ROOT python3 - --keep P... --drop P... < trim.py

1. Follow Depends/Pre-Depends from the `keep` packages through
   /var/lib/dpkg/status, not entering `drop` packages (install-time only).
2. Delete every file that only packages outside that closure own.
3. Delete paths no run-time import reaches (docs, tests, build-only parts).
4. Remove dangling symlinks (stale alternatives) and empty directories.
Prints what it removed; exits non-zero if a keep package is not installed.
"""
import argparse
import glob
import os
import re
import shutil
import sys

STATUS = "/var/lib/dpkg/status"
INFO = "/var/lib/dpkg/info"

# Step 3: globs relative to /, recursive (**). Each entry says why it can go.
PRUNE = [
    # documentation, translations, lint data
    "usr/share/doc", "usr/share/man", "usr/share/info", "usr/share/locale",
    "usr/share/lintian", "usr/share/linda", "usr/share/bug", "usr/share/menu",
    "usr/share/common-licenses", "usr/share/bash-completion",
    # iconv charsets: Python has its own codecs
    "usr/lib/x86_64-linux-gnu/gconv",
    # Debian's bytecode helpers (install time); build.sh recompiles itself
    "usr/share/python3", "usr/bin/py3compile", "usr/bin/py3clean",
    "usr/lib/python3*/**/__pycache__",
    # stdlib parts nothing imports at run time (IDE, GUI, packaging, tests)
    "usr/lib/python3.*/test", "usr/lib/python3.*/idlelib", "usr/lib/python3.*/tkinter",
    "usr/lib/python3.*/turtledemo", "usr/lib/python3.*/turtle.py",
    "usr/lib/python3.*/ensurepip", "usr/lib/python3.*/venv", "usr/lib/python3.*/lib2to3",
    "usr/lib/python3.*/pydoc_data", "usr/lib/python3.*/**/tests",
    # numpy: tests, build tools (f2py, distutils), C headers and static libs,
    # type stubs, and the SIMD test module
    "usr/lib/python3/dist-packages/numpy/**/tests",
    "usr/lib/python3/dist-packages/numpy/f2py", "usr/bin/f2py*",
    "usr/lib/python3/dist-packages/numpy/distutils",
    "usr/lib/python3/dist-packages/numpy/core/include",
    "usr/lib/python3/dist-packages/numpy/core/lib",
    "usr/lib/python3/dist-packages/numpy/random/lib",
    "usr/lib/python3/dist-packages/numpy/**/*.pyi",
    "usr/lib/python3/dist-packages/numpy/conftest.py",
    "usr/lib/python3/dist-packages/numpy/core/_simd.*.so",
    # a second copy of numpy's core module that sys.path order never reaches
    # (/usr/lib/python3/dist-packages/numpy is found first)
    "usr/lib/python3.*/dist-packages/numpy",
    # package management state and caches
    "var/lib/dpkg", "var/lib/apt", "var/cache/*", "var/log/*", "var/lib/systemd",
    "etc/apt", "etc/dpkg",
]
# Empty directories under these are removed; these themselves stay.
TIDY = ["/usr", "/etc", "/var"]
KEEP_DIRS = {"/var/tmp"}


def parse_status():
    """Installed packages: name -> dependency groups, virtual name -> providers,
    name -> version."""
    with open(STATUS, encoding="utf-8") as f:
        text = f.read()
    pkgs, provides, versions = {}, {}, {}
    for stanza in text.split("\n\n"):
        fields, last = {}, None
        for line in stanza.splitlines():
            if line[:1] in (" ", "\t") and last:
                fields[last] += " " + line.strip()
            elif ":" in line:
                last, _, value = line.partition(":")
                fields[last] = value.strip()
        name = fields.get("Package")
        if not name or "installed" not in fields.get("Status", "").split():
            continue
        deps = ", ".join(v for k, v in fields.items() if k in ("Depends", "Pre-Depends") and v)
        groups = [[re.split(r"[\s:(]", alt.strip(), maxsplit=1)[0] for alt in g.split("|")]
                  for g in deps.split(",") if g.strip()]
        pkgs[name] = groups
        versions[name] = fields.get("Version", "?")
        for p in fields.get("Provides", "").split(","):
            p = re.split(r"[\s(]", p.strip(), maxsplit=1)[0]
            if p:
                provides.setdefault(p, []).append(name)
    return pkgs, provides, versions


def closure(pkgs, provides, keep, drop):
    def resolve(name):
        if name in pkgs:
            return name
        return next(iter(provides.get(name, [])), None)

    seen, todo = set(), list(keep)
    while todo:
        name = todo.pop()
        if name in seen or name in drop:
            continue
        seen.add(name)
        for group in pkgs[name]:
            chosen = [r for r in map(resolve, group) if r]
            if not chosen:
                sys.exit(f"trim: {name}: no installed package satisfies {' | '.join(group)}")
            todo.append(chosen[0])
    return seen


def canonical(path):
    """Owned paths say /bin/x; with merged /usr the file is /usr/bin/x."""
    return os.path.join(os.path.realpath(os.path.dirname(path)), os.path.basename(path))


def owned_files(pkg_names):
    files = set()
    for list_file in glob.glob(os.path.join(INFO, "*.list")):
        name = os.path.basename(list_file)[:-len(".list")].split(":")[0]
        if name in pkg_names:
            with open(list_file, encoding="utf-8") as f:
                files.update(canonical(line.rstrip("\n")) for line in f if line.strip())
    return files


def remove(path):
    if os.path.islink(path) or not os.path.isdir(path):
        os.unlink(path)
    else:
        shutil.rmtree(path)


def delete_unneeded_packages(installed, kept):
    needed = owned_files(kept)
    count = 0
    for path in sorted(owned_files(set(installed) - kept) - needed, reverse=True):
        if os.path.lexists(path) and (os.path.islink(path) or not os.path.isdir(path)):
            os.unlink(path)
            count += 1
    # dash diverts /bin/sh; the diversion target may survive the sweep
    for diverted in ("/usr/bin/sh.distrib",):
        if os.path.lexists(diverted):
            os.unlink(diverted)
    return count


def prune_paths():
    count = 0
    for pattern in PRUNE:
        for path in sorted(glob.glob("/" + pattern, recursive=True), reverse=True):
            if os.path.lexists(path):
                remove(path)
                count += 1
    return count


def tidy():
    """Dangling symlinks (e.g. /etc/alternatives/awk), then empty directories."""
    links = dirs = 0
    for top in TIDY:
        for root, subdirs, names in os.walk(top):
            for name in names + subdirs:
                path = os.path.join(root, name)
                if os.path.islink(path) and not os.path.exists(path):
                    os.unlink(path)
                    links += 1
    for top in TIDY:
        for root, _subdirs, _names in os.walk(top, topdown=False):
            if root not in TIDY and root not in KEEP_DIRS and not os.listdir(root):
                os.rmdir(root)
                dirs += 1
    return links, dirs


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--keep", nargs="+", required=True)
    ap.add_argument("--drop", nargs="*", default=[])
    ap.add_argument("--manifest", help="write 'package version' lines of the kept packages here")
    args = ap.parse_args()
    installed, provides, versions = parse_status()
    missing = [p for p in args.keep if p not in installed]
    if missing:
        sys.exit(f"trim: keep packages not installed: {' '.join(missing)}")
    kept = closure(installed, provides, args.keep, set(args.drop))
    print(f"trim: keeping {len(kept)} of {len(installed)} packages: {' '.join(sorted(kept))}")
    if args.manifest:
        with open(args.manifest, "w", encoding="utf-8") as f:
            f.writelines(f"{name} {versions[name]}\n" for name in sorted(kept))
    print(f"trim: removed {delete_unneeded_packages(installed, kept)} files of other packages")
    print(f"trim: pruned {prune_paths()} docs/tests/build-only paths")
    links, dirs = tidy()
    print(f"trim: removed {links} dangling symlinks, {dirs} empty directories")


if __name__ == "__main__":
    main()
