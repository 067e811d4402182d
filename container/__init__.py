"""The connector's image built and run without a Docker engine (``make image``, ``container-test``).

No Docker engine runs on the machines that develop and test this connector, and no image registry
can be reached, so Airbyte's ``python-connector-base`` cannot be pulled. What works, with Debian's
packages: ``debootstrap`` makes a Debian bookworm root file system with Python 3.11, ``podman
import`` turns it into a local base image (kept in podman's storage, so it is made once per
machine), and ``podman build --build-arg BASE_IMAGE=<that base>`` builds the repository's own
``Dockerfile``, unchanged, whose default base stays Airbyte's. ``podman run`` then runs the image
as Airbyte runs a source container.

- ``tools``: the Debian packages (podman, buildah, runc, debootstrap), installed with apt when
  missing.
- ``base``: the local Python 3.11 base image, built once and cached.
- ``build``: the image build, with the host's pip configuration mounted read-only so that pip in
  the build reaches the package index; the image's size.
- ``runner``: ``podman run`` as this machine needs it.

Not part of the connector's package or image; run it from the repository root
(``python -m container``).
"""
