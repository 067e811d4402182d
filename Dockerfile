# The connector image, as Airbyte runs a Python source: spec/check/discover/read on the entrypoint.
ARG BASE_IMAGE=docker.io/airbyte/python-connector-base:4.0.2@sha256:9fdb1888c4264cf6fee473649ecb593f56f58e5d0096a87ee0b231777e2e3e73
FROM ${BASE_IMAGE}

WORKDIR /airbyte/integration_code

COPY setup.py pyproject.toml README.md ./
COPY source_meta_conversations ./source_meta_conversations

RUN pip install --no-cache-dir .

ENV AIRBYTE_ENTRYPOINT="source-meta-conversations"
ENTRYPOINT ["source-meta-conversations"]

LABEL io.airbyte.name=airbyte/source-meta-conversations
LABEL io.airbyte.version=0.1.0
