#!/usr/bin/env python3
"""Builds the third-party differential corpus into target/corpus/.

Reads tests/corpus/corpus.json: for each source a GitHub repository pinned by commit,
and for each selected program its path, the sha256 of its content, the flattened name
it is built under, the arguments it runs with and the sibling files (local modules) it
needs. Each program is extracted from a git mirror of its source with
`git show <commit>:<path>` and written to target/corpus/<source>/<name>.py, siblings
beside it under their own names; every file's sha256 is checked first.

Mirrors are looked up in $LAMBADA_CORPUS_MIRRORS, else /work/.mirror, as
<owner>+<name>/repo (the layout of the fetch tool), <owner>+<name>.git or <owner>+<name>.
A missing source (or one without the pinned commit) is named and skipped.

Writes target/corpus/manifest.json, which run.py reads.  Standard library only,
Python 3.9 or later.  Exit status: 0 built (maybe partly), 2 bad list or a sha256
mismatch, 3 no source available at all (the corpus test then skips).

    python3 tests/corpus/build.py [--out DIR] [--list FILE] [--mirrors DIR]
"""
import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def mirror_of(root, repo):
    """The git directory of repo's mirror under root, or None."""
    base = os.path.join(root, repo.replace("/", "+"))
    for cand in (os.path.join(base, "repo"), base + ".git", base, os.path.join(base, ".git")):
        if os.path.isdir(cand) and (
            os.path.isfile(os.path.join(cand, "HEAD")) and os.path.isdir(os.path.join(cand, "objects"))
        ):
            return cand
    return None


def git_show(gitdir, commit, path):
    r = subprocess.run(
        ["git", "--git-dir", gitdir, "show", "%s:%s" % (commit, path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    if r.returncode != 0:
        raise LookupError(r.stderr.decode(errors="replace").strip())
    return r.stdout


def has_commit(gitdir, commit):
    r = subprocess.run(
        ["git", "--git-dir", gitdir, "cat-file", "-e", commit + "^{commit}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return r.returncode == 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--list", default=os.path.join(HERE, "corpus.json"))
    ap.add_argument("--out", default=os.path.join(ROOT, "target", "corpus"))
    ap.add_argument("--mirrors", default=os.environ.get("LAMBADA_CORPUS_MIRRORS") or "/work/.mirror")
    ap.add_argument("--source", action="append", help="build only these sources (short names)")
    args = ap.parse_args()

    with open(args.list, encoding="utf-8") as f:
        spec = json.load(f)

    out = os.path.abspath(args.out)
    manifest = {"mirrors": args.mirrors, "sources": [], "missing": [], "programs": []}
    errors = []
    for src in spec["sources"]:
        short, repo, commit = src["name"], src["repo"], src["commit"]
        if args.source and short not in args.source:
            continue
        gitdir = mirror_of(args.mirrors, repo)
        if gitdir is None:
            manifest["missing"].append({"name": short, "repo": repo, "why": "no mirror of %s under %s" % (repo, args.mirrors)})
            continue
        if not has_commit(gitdir, commit):
            manifest["missing"].append(
                {"name": short, "repo": repo, "why": "the mirror %s lacks the pinned commit %s" % (gitdir, commit)}
            )
            continue
        dest = os.path.join(out, short)
        if os.path.isdir(dest):
            shutil.rmtree(dest)
        os.makedirs(dest)
        written = {}

        def put(path, sha, fname):
            try:
                data = git_show(gitdir, commit, path)
            except LookupError as e:
                errors.append("%s: %s: %s" % (short, path, e))
                return False
            got = hashlib.sha256(data).hexdigest()
            if got != sha:
                errors.append("%s: %s: sha256 %s, the list says %s" % (short, path, got, sha))
                return False
            if fname in written and written[fname] != got:
                errors.append("%s: %s: two different files would be written as %s" % (short, path, fname))
                return False
            written[fname] = got
            with open(os.path.join(dest, fname), "wb") as f:
                f.write(data)
            return True

        count = 0
        for prog in src["programs"]:
            ok = put(prog["path"], prog["sha256"], prog["name"] + ".py")
            for sib in prog.get("siblings", []):
                ok = put(sib["path"], sib["sha256"], os.path.basename(sib["path"])) and ok
            if ok:
                count += 1
                manifest["programs"].append(
                    {
                        "id": "%s/%s" % (short, prog["name"]),
                        "source": short,
                        "name": prog["name"],
                        "file": os.path.join(dest, prog["name"] + ".py"),
                        "origin": "%s@%s:%s" % (repo, commit[:12], prog["path"]),
                        "args": prog.get("args", []),
                    }
                )
        manifest["sources"].append({"name": short, "repo": repo, "commit": commit, "programs": count})

    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "manifest.json"), "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=1)

    for s in manifest["sources"]:
        print("corpus: %-16s %3d programs from %s@%s" % (s["name"], s["programs"], s["repo"], s["commit"][:12]))
    for m in manifest["missing"]:
        print("corpus: %-16s MISSING, skipped: %s" % (m["name"], m["why"]))
    for e in errors:
        print("corpus: ERROR %s" % e, file=sys.stderr)
    print("corpus: %d programs in %s" % (len(manifest["programs"]), out))
    if errors:
        return 2
    if not manifest["sources"]:
        print("corpus: no source is available: nothing built", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
