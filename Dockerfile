# One image for every osler process: gateway, Celery workers and Dask workers.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 OSLER_DATA_DIR=/data
WORKDIR /app
COPY pyproject.toml README.md ./
COPY api ./api
COPY workers ./workers
COPY kernels ./kernels
RUN pip install --no-cache-dir . && useradd --create-home osler && mkdir -p /data \
    && chown osler /data
USER osler
VOLUME ["/data"]
EXPOSE 8000
CMD ["osler", "gateway", "--host", "0.0.0.0", "--port", "8000"]
