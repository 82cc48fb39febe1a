# The DeployForge image: the GitHub Action's container and, with `deployforge` on PATH, the image
# Jenkins agents run. Two stages: build wheels into a venv, then a runtime with only the venv.
# No USER or WORKDIR: GitHub Actions mounts the workspace and sets the working directory itself.
# The base is pinned by digest (python:3.11-slim-bookworm); release.yml refreshes it deliberately.
FROM python:3.11-slim-bookworm@sha256:2e32f7d302adc1c37428355c1e646897c0c53f4fd60b6a551245fb90ee129f91 AS base
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

FROM base AS build
# A C compiler, in this stage only, for DeployForge's one C extension (policy/_rego_input.c: the
# policy engine's input built in C, 3x less CPU than through ctypes); the runtime gets the compiled
# module (about 50 KB, it needs only libc), never the compiler. Python's headers come with the
# python:3.11-slim base; a Debian base (the container check's) gets them from python3-dev.
RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc=4:12.* libc6-dev=2.36-* \
 && { python3 -c 'import os, sys, sysconfig; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' \
      || apt-get install -y --no-install-recommends python3-dev=3.11.*; } \
 && rm -rf /var/lib/apt/lists/*
# The AWS API models the providers call (botocore ships ~450; keep in step with providers/aws,
# deploy/shifters, state/s3 and audit storage). Every other model is dropped to keep the image small.
ARG BOTOCORE_SERVICES="s3 ec2 autoscaling cloudwatch elbv2 lambda route53 rds sts sso sso-oidc dynamodb logs iam"
# Dependencies first, from the lock (exact versions, every file's sha256; scripts/lock.sh), so a
# release of some dependency can never change what a tag's image runs; then DeployForge itself.
COPY requirements.lock /src/
RUN python3 -m venv /opt/deployforge \
 && /opt/deployforge/bin/pip install --no-compile --no-deps --require-hashes -r /src/requirements.lock
COPY pyproject.toml setup.py README.md /src/
COPY src /src/src
# The extension is optional to setuptools (an install without a compiler still works); the image
# must have it: the import fails the build otherwise.
RUN /opt/deployforge/bin/pip install --no-compile --no-deps /src \
 && /opt/deployforge/bin/python -c 'import deployforge.policy._rego_input' \
 && /opt/deployforge/bin/pip check \
 && /opt/deployforge/bin/pip uninstall --yes pip setuptools \
 && for d in /opt/deployforge/lib/python3*/site-packages/botocore/data/*/; do \
      n=$(basename "$d"); case " $BOTOCORE_SERVICES " in *" $n "*) ;; *) rm -rf "$d" ;; esac; \
    done \
 && /opt/deployforge/bin/python -m compileall -q -j 0 /opt/deployforge/lib/python3*/site-packages/deployforge

FROM base AS runtime
# git: hooks and audit records read the commit; the workspace is mounted from another owner.
# Debian's git depends on perl, which only git's rarely used perl commands (send-email, svn,
# archimport) need: it is removed (~45 MB) with the man pages, docs and locales, keeping the image
# under its 250 MB budget. Everything DeployForge, hooks and CI steps use (rev-parse, log, diff,
# status, clone, fetch) is compiled C and keeps working; the container check runs `git log`.
RUN apt-get update \
 && apt-get install -y --no-install-recommends git=1:2.39.* \
 && dpkg --purge --force-depends perl perl-modules-5.36 libperl5.36 liberror-perl git-man \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /usr/share/doc/* /usr/share/man/* /usr/share/locale/* \
 && git config --system --add safe.directory '*' \
 && git --version
COPY --from=build /opt/deployforge /opt/deployforge
ENV PATH=/opt/deployforge/bin:$PATH
LABEL org.opencontainers.image.title="DeployForge" \
      org.opencontainers.image.description="Validate, plan, canary-deploy and check drift of infrastructure" \
      org.opencontainers.image.source="https://github.com/deployforge/action"
ENTRYPOINT ["/opt/deployforge/bin/python", "-m", "deployforge.action"]
