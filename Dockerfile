# 党建助手 (dangjian-bot): `dangjian run` on a slim Python image, as an unprivileged user.
# Build: docker build -t dangjian-bot .      Run: see docker-compose.yml and docs/OPERATIONS.md

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY handlers ./handlers
COPY storage ./storage
COPY content ./content
RUN pip wheel --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    MPLCONFIGDIR=/app/.cache/matplotlib \
    PORT=8080
# CJK glyphs for the charts (matplotlib) and the ledger; fontconfig to find them.
RUN apt-get update \
    && apt-get install -y --no-install-recommends fonts-noto-cjk fontconfig \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /wheels /wheels
RUN pip install /wheels/*.whl && rm -rf /wheels
RUN useradd --system --uid 10001 --user-group --home-dir /app --create-home dangjian
WORKDIR /app
USER dangjian
# The default SQLite file (DATABASE_URL unset) lives here; mount a volume to keep it.
RUN mkdir -p /app/data /app/.cache/matplotlib \
    && python -c "import matplotlib.font_manager"
VOLUME ["/app/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8080'), timeout=4)" || exit 1
STOPSIGNAL SIGTERM
CMD ["dangjian", "run"]
