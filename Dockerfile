# dispatch gRPC server: docker build -t dispatch . && docker run -p 50051:50051 -p 9100:9100 dispatch
# Several replicas with Redis: deploy/docker-compose.yml; Kubernetes: deploy/kubernetes/dispatch.yaml.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    MPLCONFIGDIR=/tmp/matplotlib \
    DISPATCH_METRICS_PORT=9100
WORKDIR /app
COPY pyproject.toml README.md ./
COPY protos ./protos
COPY src ./src
RUN pip install . \
 && useradd --system --uid 10001 --user-group --home-dir /app --shell /usr/sbin/nologin dispatch
# Not root: a fixed uid (runAsNonRoot in Kubernetes can check it), nothing in /app writable.
USER 10001:10001

EXPOSE 50051 9100
# /readyz answers 200 once the solver workers are up (503 while starting or stopping); it is
# plain HTTP on the metrics port, so it works whether gRPC is plaintext, TLS or mutual TLS.
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
  CMD python -c "import os, urllib.request; \
urllib.request.urlopen('http://127.0.0.1:%s/readyz' % os.environ.get('DISPATCH_METRICS_PORT', '9100'), timeout=2)"
STOPSIGNAL SIGTERM
ENTRYPOINT ["dispatch"]
CMD ["serve", "--port", "50051"]
