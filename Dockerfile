# One image for the otel_ml services of docker-compose.yml: the example serving app
# (`otel-ml demo serve`), the drift / accuracy processor (`otel-ml processor`) and the remediation
# webhook receiver (`otel-ml remediate`). The entry point is the `otel-ml` command; each compose
# service passes its subcommand.
#
#   docker build -t otel-ml .
#   docker run --rm otel-ml --help
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /opt/otel-ml
COPY pyproject.toml README.md ./
COPY otel_ml ./otel_ml
# processor: OTLP receiver, SciPy, DataSketches, YAML; sklearn: the demo model; parquet: reference
# profiles from Parquet files. The CPU-only wheels keep the image small; no GPU extra (add `gpu`
# and run on a GPU host for NVML metrics).
RUN pip install ".[processor,sklearn,parquet]" \
 && useradd --system --uid 10001 --home-dir /var/lib/otel-ml --shell /usr/sbin/nologin otelml \
 && mkdir -p /var/lib/otel-ml/state /var/lib/otel-ml/remediate /etc/otel-ml \
 && chown -R otelml:otelml /var/lib/otel-ml

USER 10001
# OTLP gRPC / HTTP (processor), /metrics (processor 9464, app 9465, remediation 9466), webhook 9095
EXPOSE 4317 4318 9095 9464 9465 9466
ENTRYPOINT ["otel-ml"]
CMD ["--help"]
