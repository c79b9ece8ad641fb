# The server on its embedded defaults; set COMPANION_REDIS_URL, ANTHROPIC_API_KEY, COMPANION_JWT_SECRET to go beyond.
FROM python:3.11-slim-bookworm

RUN apt-get update \
    && apt-get install -y --no-install-recommends espeak-ng sox libsndfile1 \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md LICENSE ./
COPY pipeline ./pipeline
COPY personas ./personas
COPY server ./server
RUN pip install --no-cache-dir .

RUN useradd --create-home --uid 10001 companion
USER companion
ENV COMPANION_HOST=0.0.0.0 \
    COMPANION_PORT=8080 \
    COMPANION_STATE_DIR=/home/companion/state
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s CMD python -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:8080/health', timeout=2)" || exit 1
CMD ["companion-voice", "serve"]
