"""The documentation holds together: links resolve, the README stays short, and no tracked file
points at material outside the repository."""

import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
README_LIMIT = 15_000  # bytes: the README is a user's first page, details live under docs/

FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.MULTILINE | re.DOTALL)
INLINE_CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"!?\[[^\]\n]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)
EXTERNAL = ("http://", "https://", "mailto:")

# Built from parts so that this file does not match itself.
FORBIDDEN = [
    ("a seed document", re.compile(r"\bseeds?[\s_-]*0\s*0", re.IGNORECASE)),
    ("the design notes file", re.compile(re.escape("DESIGN" + ".md"), re.IGNORECASE)),
    ("how the work is organised", re.compile("lead" + r"\s+integrates", re.IGNORECASE)),
]


def doc_files() -> list[Path]:
    files = [REPO / "README.md", REPO / "CONTRIBUTING.md"]
    files += sorted((REPO / "docs").glob("*.md")) + sorted((REPO / "benchmarks").glob("*.md"))
    return [f for f in files if f.exists()]


def shown(path: Path) -> str:
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def without_code(text: str) -> str:
    return INLINE_CODE.sub("code", FENCE.sub("", text))


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces as dashes."""
    text = INLINE_CODE.sub(lambda m: m.group(0)[1:-1], heading)
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)  # a link in a heading keeps its text
    text = re.sub(r"[^\w\- ]", "", text.lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    out = set()
    for heading in HEADING.findall(FENCE.sub("", path.read_text(encoding="utf-8"))):
        base = slug(heading)
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    return out


def broken_links(path: Path) -> list[str]:
    problems = []
    for target in LINK.findall(without_code(path.read_text(encoding="utf-8"))):
        if target.startswith(EXTERNAL):
            continue
        file_part, _, anchor = target.partition("#")
        dest = (path.parent / file_part).resolve() if file_part else path
        if not dest.exists():
            problems.append(f"{target}: no such file {shown(dest)}")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            problems.append(f"{target}: no heading with anchor #{anchor} in {shown(dest)}")
    return problems


def test_slug_follows_github():
    assert slug("Import (`bench_import.py`)") == "import-bench_importpy"
    assert slug("Dependencies, and why") == "dependencies-and-why"
    assert slug("Named queries (`sql/queries/NAME.sql`)") == "named-queries-sqlqueriesnamesql"


def test_broken_link_is_found(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# Title\n\n[ok](#title) [gone](missing.md) [bad](#nowhere)\n```\n[code](x.md)\n```\n")
    assert [p.split(":")[0] for p in broken_links(page)] == ["missing.md", "#nowhere"]


@pytest.mark.parametrize("path", doc_files(), ids=shown)
def test_every_relative_link_resolves(path):
    assert broken_links(path) == []


def test_readme_stays_short():
    size = (REPO / "README.md").stat().st_size
    assert size < README_LIMIT, f"README.md is {size} bytes; move details into docs/"


def tracked_text_files() -> list[Path]:
    try:
        names = subprocess.run(
            ["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True
        ).stdout.split(b"\0")
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout: the tracked files cannot be listed")
    files = []
    for name in filter(None, names):
        path = REPO / name.decode()
        if path.is_file() and b"\0" not in path.read_bytes()[:8192]:
            files.append(path)
    return files


def mentions(paths: list[Path]) -> list[str]:
    found = []
    for path in paths:
        for lineno, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            for what, pattern in FORBIDDEN:
                if pattern.search(line):
                    found.append(f"{shown(path)}:{lineno}: mentions {what}")
    return found


def test_forbidden_mentions_are_found(tmp_path):
    sample = tmp_path / "x.md"
    sample.write_text(
        "See Seed" + "  000 and the " + "DESIGN" + ".md; the " + "lead" + " integrates.\nfine --seed 7\n"
    )
    assert len(mentions([sample])) == 3


def test_docs_speak_of_the_project_only():
    assert mentions(doc_files()) == []


def test_no_tracked_file_points_outside_the_project():
    assert mentions(tracked_text_files()) == []
