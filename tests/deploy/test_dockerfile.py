"""The Dockerfile and its build context, read statically (no Docker engine runs here, so `docker build` is not
part of the suite): multi-stage build on python:3.11-slim, no build tools and no secrets in the final image, a
fixed non-root user that the Kubernetes manifests agree with, the Procfile's web command, and a build context
(.dockerignore) that holds everything the processes import and nothing local (venv, instance/, uploads, tests)."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys

from .support import ROOT, load_docs, pod_specs, procfile

SECRET_NAMES = re.compile(r"SECRET|PASSWORD|TOKEN|_KEY\b|JWT|DATABASE_URL|REDIS_URL|MIDTRANS|SMTP_USER", re.I)
BUILD_TOOLS = re.compile(r"\b(build-essential|gcc|g\+\+|make|libpq-dev|python3-dev|clang)\b")


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    out, pending = [], ""
    for raw in (ROOT / "Dockerfile").read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        word, _, rest = line.partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


def stages() -> list[dict]:
    args, result = {}, []
    for word, rest in instructions():
        if word == "ARG" and not result:
            name, _, default = rest.partition("=")
            args[name] = default
        elif word == "FROM":
            image, _, alias = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), m.group(0)), rest).partition(" AS ")
            result.append({"image": image.strip(), "alias": alias.strip(), "lines": []})
        elif result:
            result[-1]["lines"].append((word, rest))
    return result


def test_multi_stage_build_on_python_311_slim():
    builder, final = stages()[0], stages()[-1]
    assert len(stages()) >= 2 and builder["alias"] == "builder"
    assert builder["image"] == final["image"] == "python:3.11-slim"
    builder_text = "\n".join(rest for _, rest in builder["lines"])
    assert "requirements.txt" in builder_text and re.search(r"pip install .*-r \S*requirements\.txt", builder_text)
    assert any(w == "COPY" and "--from=builder" in r and "/opt/venv" in r for w, r in final["lines"])
    # The final stage installs nothing: no package manager, no compiler, no pip.
    for word, rest in final["lines"]:
        if word == "RUN":
            assert not re.search(r"apt-get|apk |pip install", rest), rest
            assert not BUILD_TOOLS.search(rest), rest


def test_final_stage_runs_the_web_process_as_a_fixed_non_root_user():
    final = stages()[-1]["lines"]
    users = [rest for word, rest in final if word == "USER"]
    assert users, "the final stage must switch to a non-root USER"
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit() and int(uid) > 0 and (not gid or int(gid) > 0), users[-1]
    last_user = max(i for i, (w, _) in enumerate(final) if w == "USER")
    assert not [w for w, _ in final[last_user:] if w == "RUN"], "nothing may run as root after USER"
    # Kubernetes runs every PodDesk pod as that same UID (runAsNonRoot needs a numeric USER to verify).
    for name, spec in pod_specs(load_docs()).items():
        assert spec["securityContext"]["runAsUser"] == int(uid) and spec["securityContext"]["runAsNonRoot"], name

    env = {}
    for word, rest in final:
        if word == "ENV":
            env |= dict(re.findall(r"(\w+)=(\S+)", rest))
    assert env["PODDESK_ENV"] == "production"
    assert ("EXPOSE", "5000") in final
    cmd = json.loads(next(rest for word, rest in reversed(final) if word == "CMD"))
    assert cmd == ["gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"] == procfile()["web"]


def test_no_secret_is_baked_into_the_image():
    for word, rest in instructions():
        if word in ("ENV", "ARG", "LABEL"):
            for name in re.findall(r"(\w+)=", rest) or [rest.split()[0]]:
                assert not SECRET_NAMES.search(name), f"{word} {rest}"
        if word in ("COPY", "ADD"):
            assert not re.search(r"\.env\b|kubeconfig|\.pem\b|\.key\b", rest), rest


# ---------------------------------------------------------------------------------------------- build context
def _rule(pattern: str) -> re.Pattern:
    """One .dockerignore pattern (Go filepath.Match plus `**`), matched against a context-relative path."""
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out + r"\Z")


def _rules() -> list[tuple[bool, re.Pattern]]:
    rules = []
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            negate = line.startswith("!")
            rules.append((negate, _rule(os.path.normpath(line.lstrip("!").strip("/")))))
    return rules


def excluded(rel: str, rules=None) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parent directories decides."""
    rules = rules if rules is not None else _rules()
    parents = [rel] + ["/".join(rel.split("/")[:n]) for n in range(1, rel.count("/") + 1)]
    result = False
    for negate, rx in rules:
        if any(rx.match(p) for p in parents):
            result = not negate
    return result


def build_context() -> list[str]:
    rules, files = _rules(), []
    for top, dirs, names in os.walk(ROOT):
        rel_top = os.path.relpath(top, ROOT)
        rel_top = "" if rel_top == "." else rel_top + "/"
        # Prune excluded directories unless a "!" pattern could bring something inside back.
        dirs[:] = [d for d in dirs if not excluded(rel_top + d, rules) or d == "uploads"]
        files += [rel_top + n for n in names if not excluded(rel_top + n, rules)]
    return sorted(files)


def test_dockerignore_keeps_local_state_out_and_the_application_in():
    context = set(build_context())
    for needed in ("wsgi.py", "gunicorn.conf.py", "config.py", "requirements.txt", "Procfile", "webapp/__init__.py",
                   "jobs/worker.py", "jobs/scheduler.py", "migrations/env.py", "migrations/alembic.ini",
                   "uploads/.gitkeep"):
        assert needed in context, needed
    assert any(p.startswith("migrations/versions/") for p in context)
    assert any(p.startswith("templates/") for p in context) and any(p.startswith("static/") for p in context)
    for path in context:
        top = path.split("/")[0]
        assert top not in {".git", ".venv", "instance", "artifacts", "tests", "bench", "docs", ".pytest_cache",
                           "simulators", "deploy"}, path
        assert "__pycache__" not in path and not path.endswith((".pyc", ".sqlite", ".db")), path
        assert not path.startswith("uploads/") or path == "uploads/.gitkeep", path
    assert excluded("uploads/ticket/abc.png") and excluded("instance/poddesk.sqlite") and excluded(".venv/bin/python")
    assert excluded("webapp/__pycache__/db.cpython-311.pyc") and not excluded("uploads/.gitkeep")


def test_build_context_holds_everything_the_processes_import(tmp_path):
    """The context alone (copied to an empty directory) builds the WSGI app, imports the worker and the scheduler,
    and finds the Alembic migrations `flask db upgrade` runs, with the settings the image sets."""
    for rel in build_context():
        dest = tmp_path / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, dest)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PODDESK", "FLASK", "PYTHON"))}
    env.update(PODDESK_ENV="production", FLASK_APP="wsgi.py", SECRET_KEY="context-test", PYTHONDONTWRITEBYTECODE="1",
               JWT_SECRET="context-test-jwt-secret-0123456789abcdef", UPLOAD_FOLDER=str(tmp_path / "data"),
               DATABASE_URL="postgresql+psycopg://postgres@127.0.0.1:1/none", REDIS_URL="redis://127.0.0.1:1/0")
    # One interpreter (importing the app is the slow part): the imports, then what `flask db heads` runs.
    code = ("import webapp, wsgi, jobs.worker, jobs.scheduler, flask_migrate\n"
            "assert webapp.__file__.startswith(%r), webapp.__file__\n"
            "assert wsgi.app.config['PROFILE'] == 'production'\n"
            "with wsgi.app.app_context():\n    flask_migrate.heads()\n" % str(tmp_path))
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert re.search(r"^\w+ \(head\)$", proc.stdout, re.M), (proc.stdout, proc.stderr[-3000:])
