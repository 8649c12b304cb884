# Image for narration workers on any machine, and for the Prefect API server and background services of
# deploy/compose.yaml: the versions pinned in constraints.txt (those the tests ran with), the code in /app.
#
#   docker build -t narration-worker:latest .
#   docker run --rm -e PREFECT_API_URL=http://server:4200/api -e PREFECT_API_AUTH_STRING=... narration-worker:latest
#
# espeak-ng and FFmpeg come inside the espeakng-loader and av wheels; git is for deployments whose pull
# step clones the repository (deploy/prefect.git.yaml).
FROM python:3.11-slim

RUN apt-get update \
    && apt-get install -y --no-install-recommends git \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 narration \
    && install -d -o narration -g narration /var/lib/narration

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONUNBUFFERED=1 \
    PREFECT_SERVER_ANALYTICS_ENABLED=false

WORKDIR /app

# Every pinned package first: this layer is rebuilt only when constraints.txt changes.
COPY constraints.txt ./
RUN pip install --no-deps -r constraints.txt

# Then the project itself, resolved against the same pins (asyncpg and prefect-redis: the server's database
# driver and messaging); `pip check` fails the build if the pins do not fit together.
COPY pyproject.toml README.md ./
COPY blocks/ blocks/
COPY flows/ flows/
COPY tasks/ tasks/
COPY speech_audio/ speech_audio/
COPY tts_emulator/ tts_emulator/
RUN pip install -c constraints.txt '.[s3]' asyncpg prefect-redis \
    && pip check

USER narration
# Deployments with a git_clone pull step clone into the worker's working directory: one it may write.
WORKDIR /var/lib/narration
CMD ["prefect", "worker", "start", "--pool", "narration-remote", "--type", "process"]
