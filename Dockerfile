# The nvcf-conformance harness as an image, for vendors who certify a backend from CI.
#
#   docker build -t nvcf-conformance .
#   docker run --rm -e NVCF_TOKEN \
#     -v "$PWD/target.yaml:/work/target.yaml:ro" -v "$PWD/reports:/work/reports" \
#     nvcf-conformance run --target-config /work/target.yaml --profile security-current
#
# NOTE: this file has not been built in the project's development environment, which has no Docker
# engine; it is kept simple so that a plain `docker build` on a machine with one is all it takes.
# The image runs against an existing NVCF endpoint + OCI registry (+ optional kubeconfig). It does not
# carry the embedded environment's tools (kwok, etcd, kube-*) nor a Docker engine.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# A fixed uid so a bind-mounted reports/ folder can be made writable for it (chown 10001).
RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin conformance

WORKDIR /opt/nvcf-conformance
# Package sources first: the dependency layer is rebuilt only when they or pyproject.toml change.
COPY pyproject.toml README.md ./
COPY conformance ./conformance
COPY reference ./reference
# The probe's package: the harness's gRPC client uses its KServe v2 stubs.
COPY sample-charts/images/mini-service ./sample-charts/images/mini-service
RUN pip install ./sample-charts/images/mini-service .

# Data the harness reads from the source tree: the suites, the sample charts, the catalog.
COPY suites ./suites
COPY sample-charts ./sample-charts

# conformance.paths finds suites/, sample-charts/, tools/ and bin/ under NVCF_HOME (site-packages has
# only the code). The pinned tools (helm for chart builds) are not in this image yet: mount a bin/
# built by `make tools` at /opt/nvcf-conformance/bin, or push charts from the host.
ENV NVCF_HOME=/opt/nvcf-conformance \
    NVCF_SUITES_DIR=/opt/nvcf-conformance/suites \
    NVCF_REPORTS_DIR=/work/reports \
    NVCF_RUN_DIR=/tmp/nvcf-run

USER conformance
WORKDIR /work
ENTRYPOINT ["nvcf-conformance"]
CMD ["--help"]
