#!/bin/sh
# Run by the postgres image once, when its data volume is new: the training database
# (TRAINING_DATABASE_URL in docker-compose.yml) beside the main one, owned by the same user.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -c "CREATE DATABASE kirby_training OWNER \"$POSTGRES_USER\""
