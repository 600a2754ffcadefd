# dispatch gRPC server: docker build -t dispatch . && docker run -p 50051:50051 dispatch
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY protos ./protos
COPY src ./src
RUN pip install . \
 && useradd --system --uid 10001 --home-dir /app dispatch
USER dispatch

EXPOSE 50051
# SERVING only once the solver workers are up (grpc.health.v1); the CLI has no network dependency.
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD python -c "import grpc,sys; from grpc_health.v1 import health_pb2 as h, health_pb2_grpc as g; \
s=g.HealthStub(grpc.insecure_channel('127.0.0.1:50051')).Check(h.HealthCheckRequest(), timeout=2); \
sys.exit(0 if s.status == h.HealthCheckResponse.SERVING else 1)"
STOPSIGNAL SIGTERM
ENTRYPOINT ["dispatch"]
CMD ["serve", "--port", "50051"]
