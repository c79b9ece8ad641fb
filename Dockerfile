# The server on its embedded defaults; set COMPANION_REDIS_URL, ANTHROPIC_API_KEY, COMPANION_JWT_SECRET to go beyond.
FROM python:3.11-slim-bookworm

RUN apt-get update \
    && apt-get install -y --no-install-recommends espeak-ng sox libsndfile1 \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
# Exactly the versions in uv.lock, as the README's commands and CI install them.
RUN pip install --no-cache-dir uv==0.13.9
ENV UV_PROJECT_ENVIRONMENT=/app/.venv UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy
# --build-arg EXTRAS="--extra whisper-base" adds Whisper base (for COMPANION_WHISPER_MODEL=base).
ARG EXTRAS=""
COPY pyproject.toml uv.lock ./
RUN uv sync --locked $EXTRAS --no-install-project --no-editable --no-cache
COPY README.md LICENSE ./
COPY pipeline ./pipeline
COPY personas ./personas
COPY server ./server
RUN uv sync --locked $EXTRAS --no-editable --no-cache
ENV PATH=/app/.venv/bin:$PATH

RUN useradd --create-home --uid 10001 companion
USER companion
ENV COMPANION_HOST=0.0.0.0 \
    COMPANION_PORT=8080 \
    COMPANION_STATE_DIR=/home/companion/state
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s CMD python -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:8080/v1/health', timeout=2)" || exit 1
CMD ["companion-voice", "serve"]
