# The connector image, as Airbyte runs a Python source: spec/check/discover/read on the entrypoint.
# Its dependencies are exactly the tested ones: requirements.lock, every file checked against its
# hash, in a virtual environment of the base's Python (a Debian system Python refuses installs
# into itself, PEP 668, and the connector's pins should not mix with the base's packages); the
# connector itself is installed without dependencies. It runs as a non-root user.
ARG BASE_IMAGE=docker.io/airbyte/python-connector-base:4.0.2@sha256:9fdb1888c4264cf6fee473649ecb593f56f58e5d0096a87ee0b231777e2e3e73
FROM ${BASE_IMAGE}

ENV VIRTUAL_ENV=/airbyte/venv
ENV PATH="${VIRTUAL_ENV}/bin:${PATH}"
WORKDIR /airbyte/integration_code

COPY requirements.lock ./
RUN python3 -m venv "${VIRTUAL_ENV}" \
    && pip install --no-cache-dir --require-hashes -r requirements.lock

COPY setup.py pyproject.toml README.md ./
COPY source_meta_conversations ./source_meta_conversations
# No build isolation: the build uses setuptools from the lock, not whatever the index serves today.
RUN pip install --no-cache-dir --no-deps --no-build-isolation . \
    && rm -rf build ./*.egg-info

# Not root: uid 1000, the base's own user where it has one (Airbyte's bases have an `airbyte`
# user), created as `airbyte` where it has none (a plain Python base), under another name should
# the base's `airbyte` have another uid. Numeric, so that a platform can verify runAsNonRoot.
RUN getent passwd 1000 >/dev/null \
    || useradd --create-home --uid 1000 --user-group \
        "$(getent passwd airbyte >/dev/null && echo connector || echo airbyte)"
USER 1000:1000

ENV AIRBYTE_ENTRYPOINT="source-meta-conversations"
ENTRYPOINT ["source-meta-conversations"]

LABEL io.airbyte.name=airbyte/source-meta-conversations
LABEL io.airbyte.version=0.1.1
