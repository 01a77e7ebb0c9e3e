# Production image: DATABASE_URL is required (no embedded PostgreSQL here); migrate, then serve.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    HOST=0.0.0.0 PORT=8000 APP_ENV=production LOG_FORMAT=json MIGRATE_ON_START=false

RUN useradd --create-home --uid 10001 app
WORKDIR /srv/app
COPY pyproject.toml README.md alembic.ini ./
COPY app ./app
COPY sql ./sql
COPY migrations ./migrations
RUN pip install --no-cache-dir -e . && chown -R app:app /srv/app

USER app
EXPOSE 8000
CMD ["sh", "-c", ": \"${DATABASE_URL:?DATABASE_URL is required}\" && autonomous-ops migrate && exec autonomous-ops serve"]
