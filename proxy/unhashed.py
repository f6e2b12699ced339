"""Files an upstream lists without a sha256: pipgate cannot verify them, so by default it
does not serve them (``allow_unhashed_files = false``).

Every index pipgate's recorded fixtures come from (the public index, devpi, proxpi,
pypiserver, bandersnatch, Artifactory, Nexus, GitLab, CodeArtifact) lists a sha256 for every
file, so the default costs nothing there. An unhashed listing is what a hostile page or a
misconfigured server produces, and serving it unverified would pass on whatever bytes its URL
returns. An upstream that really lists no hashes (a plain directory listing) needs
``allow_unhashed_files = true``; its files are then served as downloaded, and their sha256 is
still recorded in the fetch log.

- A distribution without a sha256 stays listed (the resolver's view of the project does not
  change) and its download is answered 502, saying why and which setting allows it.
- A PEP 658/714 metadata claim without a sha256 is dropped from the page, so pip and uv fall
  back to the (hashed) distribution itself instead of failing on a refused ``.metadata``.
- Provenance objects (PEP 740) carry no hash in the simple API by design; they are signed,
  and the attestation policy verifies them.
"""

from __future__ import annotations

import dataclasses

from proxy.errors import UpstreamProtocolError
from proxy.model import DistFile, ProjectPage


class UnverifiableFile(UpstreamProtocolError):
    def __init__(self, filename: str) -> None:
        super().__init__(
            f"{filename!r} is listed by the upstream without a sha256, so pipgate cannot "
            f"verify it and does not serve it (allow_unhashed_files = true allows it)"
        )
        self.filename = filename


def _unhashed_metadata(dist: DistFile) -> bool:
    return dist.has_metadata and dist.metadata_sha256 is None


def without_unverifiable_metadata(page: ProjectPage) -> ProjectPage:
    """``page`` with every core-metadata claim that lacks a sha256 removed."""
    if not any(_unhashed_metadata(dist) for dist in page.files):
        return page
    files = tuple(
        dataclasses.replace(dist, core_metadata=None) if _unhashed_metadata(dist) else dist
        for dist in page.files
    )
    return page.with_files(files)


__all__ = ["UnverifiableFile", "without_unverifiable_metadata"]
