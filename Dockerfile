# The connector image, as Airbyte runs a Python source: spec/check/discover/read on the entrypoint.
# Its dependencies are exactly the tested ones: requirements.lock, every file checked against its
# hash; the connector itself is installed without dependencies.
ARG BASE_IMAGE=docker.io/airbyte/python-connector-base:4.0.2@sha256:9fdb1888c4264cf6fee473649ecb593f56f58e5d0096a87ee0b231777e2e3e73
FROM ${BASE_IMAGE}

WORKDIR /airbyte/integration_code

COPY requirements.lock ./
RUN pip install --no-cache-dir --require-hashes -r requirements.lock

COPY setup.py pyproject.toml README.md ./
COPY source_meta_conversations ./source_meta_conversations
RUN pip install --no-cache-dir --no-deps .

ENV AIRBYTE_ENTRYPOINT="source-meta-conversations"
ENTRYPOINT ["source-meta-conversations"]

LABEL io.airbyte.name=airbyte/source-meta-conversations
LABEL io.airbyte.version=0.1.0
