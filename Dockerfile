# One image for every Kirby process (web, ws, worker, collectors, beat, migrate);
# docker-compose.yml picks the process with `command:`. Configuration comes only
# from the environment at run time: nothing secret is baked in.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=kirby.settings

WORKDIR /app

# pg_dump/pg_restore for backups: Debian 12's postgresql-client is 15, the server's major version.
RUN apt-get update && apt-get install -y --no-install-recommends postgresql-client-15 \
    && rm -rf /var/lib/apt/lists/*

RUN groupadd --system kirby \
    && useradd --system --gid kirby --home-dir /app --no-create-home --shell /usr/sbin/nologin kirby \
    && install -d -o kirby -g kirby /srv/static /srv/backups /srv/exports

# Dependencies first: this layer is rebuilt only when requirements.txt changes.
COPY requirements.txt .
RUN pip install -r requirements.txt

COPY . .

# Static files are collected at build time so every container of this image
# serves the same assets. The key below exists only for this one command; the
# running processes refuse to start without a real SECRET_KEY from the environment.
RUN SECRET_KEY=build-only-collectstatic-key DEBUG=false \
    python manage.py collectstatic --noinput --verbosity 0

# The code stays root-owned and read-only to the process that runs it.
USER kirby

EXPOSE 8000 8001

# Plain HTTP under WSGI; docker-compose.yml runs the other processes from this image.
CMD ["gunicorn", "kirby.wsgi:application", "--config", "python:kirby.gunicorn_conf", "--bind", "0.0.0.0:8000", "--access-logfile", "-"]
