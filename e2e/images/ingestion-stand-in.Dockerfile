# syntax=docker/dockerfile:1
# The ingestion stand-in image for the kind backend of the e2e suite (never pushed anywhere).
#
# Built from the repository root, so the repo's allow-list .dockerignore applies (runtime/ is in):
#   docker build -f e2e/images/ingestion-stand-in.Dockerfile -t hybrid-runner-e2e/ingestion-stand-in:e2e .
#
# It honours the pod contract of OpenMetadata's ingestion image: the runner's pods run
# `python main.py` (pipelines) and `python run_automation.py` (test_connection and other
# automations) in the working directory, with `config`, `pipelineType`, `pipelineRunId` and
# `ingestionPipelineFQN` in the environment. Both shims call runtime/devkit/stand_in.py, which behaves
# as the config's optional `standIn` object says ({"seconds": 2, "exitCode": 0, ...}).
# `python -m runtime.devkit.stand_in` works too. Standard library only: nothing is installed.

ARG PYTHON_IMAGE=python:3.11-slim
FROM ${PYTHON_IMAGE}
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONPATH=/ingestion
WORKDIR /ingestion
COPY runtime/devkit/stand_in.py ./runtime/devkit/stand_in.py
RUN touch runtime/__init__.py runtime/devkit/__init__.py \
 && printf 'import sys\n\nfrom runtime.devkit.stand_in import main\n\nsys.exit(main())\n' > main.py \
 && cp main.py run_automation.py \
 && groupadd --system --gid 10002 ingestion \
 && useradd --system --uid 10002 --gid 10002 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin ingestion \
 && python -c "import runtime.devkit.stand_in"
USER 10002:10002
CMD ["python", "main.py"]
