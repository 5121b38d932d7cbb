#!/usr/bin/env python3
"""Runs the Dockerfile's steps natively, for machines without a Docker engine (CI here).

What it does, stage by stage:
  builder   COPY the build context (minus .dockerignore's entries) into a scratch directory, then run every RUN
            line there with the stage's ENV and WORKDIR. Absolute paths in ENV/WORKDIR (/src, /out) are placed
            under the scratch directory; CARGO_TARGET_DIR may be overridden by the caller's environment so
            compiled dependencies are reused between runs (the only deviation from the image build).
  runtime   COPY --from=builder the files it names; RUN lines are listed, not run (they install system packages
            and create the user: they need the base image). Then checks what the image promises: USER is not
            root, HOST is 0.0.0.0, and the binary started with the image's ENV and CMD passes the HEALTHCHECK
            command (on a free loopback port, with its data in the scratch directory).

Usage: scripts/docker-build-native.py [--keep]   (exit status 0 when every step and check passed)
"""

import fnmatch
import json
import os
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def instructions(dockerfile):
    """(keyword, argument) pairs, with continuation lines joined and comments dropped."""
    out, pending = [], ""
    for line in dockerfile.read_text().splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        full = (pending + stripped).strip()
        pending = ""
        keyword, _, argument = full.partition(" ")
        out.append((keyword.upper(), argument.strip()))
    return out


def stages(dockerfile):
    result = []
    for keyword, argument in instructions(dockerfile):
        if keyword == "FROM":
            parts = argument.split()
            name = parts[2] if len(parts) >= 3 and parts[1].lower() == "as" else str(len(result))
            result.append({"name": name, "base": parts[0], "steps": []})
        elif result:
            result[-1]["steps"].append((keyword, argument))
    return result


def env_pairs(argument):
    """`ENV A=1 B="two words"` → [(A, 1), (B, two words)]."""
    return [tuple(item.split("=", 1)) for item in shlex.split(argument) if "=" in item]


def ignored(relative, patterns):
    parts = relative.split("/")
    for pattern in patterns:
        pattern = pattern.rstrip("/")
        if pattern.startswith("**/"):
            if any(fnmatch.fnmatch(part, pattern[3:]) for part in parts):
                return True
        elif fnmatch.fnmatch(relative, pattern) or fnmatch.fnmatch(parts[0], pattern):
            return True
    return False


def copy_context(destination):
    patterns = [
        line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for dirpath, dirnames, filenames in os.walk(ROOT):
        rel_dir = os.path.relpath(dirpath, ROOT)
        rel_dir = "" if rel_dir == "." else rel_dir
        dirnames[:] = [d for d in dirnames if not ignored(os.path.join(rel_dir, d), patterns)]
        for name in filenames:
            rel = os.path.join(rel_dir, name)
            if not ignored(rel, patterns):
                target = destination / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(ROOT / rel, target)


def placed(scratch, path):
    """An absolute image path placed under the scratch directory."""
    return str(scratch / path.lstrip("/")) if path.startswith("/") else path


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    keep = "--keep" in sys.argv
    all_stages = stages(ROOT / "Dockerfile")
    builder, runtime = all_stages[0], all_stages[-1]
    scratch = Path(tempfile.mkdtemp(prefix="agentgate-image-"))
    failures = []
    try:
        print(f"== stage {builder['name']} (FROM {builder['base']}), natively in {scratch}")
        env = dict(os.environ)
        workdir = scratch
        for keyword, argument in builder["steps"]:
            if keyword == "ENV":
                for name, value in env_pairs(argument):
                    if name == "CARGO_TARGET_DIR" and "CARGO_TARGET_DIR" in os.environ:
                        print(f"   ENV {name}: keeping the caller's {os.environ[name]} (compiled dependencies reused)")
                        continue
                    env[name] = placed(scratch, value)
            elif keyword == "WORKDIR":
                workdir = Path(placed(scratch, argument))
                workdir.mkdir(parents=True, exist_ok=True)
            elif keyword == "COPY" and argument.split() == [".", "."]:
                print("   COPY . . (the build context, minus .dockerignore)")
                copy_context(workdir)
            elif keyword == "RUN":
                print(f"   RUN {argument}", flush=True)
                done = subprocess.run(["bash", "-euo", "pipefail", "-c", argument], cwd=workdir, env=env)
                if done.returncode != 0:
                    failures.append(f"RUN {argument} exited {done.returncode}")
                    return report(failures, scratch, keep)
            else:
                failures.append(f"the native run does not know {keyword} {argument} in the builder stage")

        print(f"== stage {runtime['name']} (FROM {runtime['base']})")
        image_env, user, healthcheck, cmd, entrypoint = {}, None, None, [], []
        rootfs = scratch / "runtime"
        for keyword, argument in runtime["steps"]:
            if keyword == "COPY" and argument.startswith("--from="):
                _, source, target = argument.split()
                source_path = Path(placed(scratch, source))
                destination = rootfs / target.lstrip("/")
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source_path, destination)
                print(f"   COPY {source} → {target}")
            elif keyword == "RUN":
                print(f"   (not run natively: needs the base image) RUN {argument[:90]}…")
            elif keyword == "ENV":
                image_env.update(env_pairs(argument))
            elif keyword == "USER":
                user = argument
            elif keyword == "HEALTHCHECK":
                healthcheck = argument
            elif keyword == "CMD":
                cmd = json.loads(argument)
            elif keyword == "ENTRYPOINT":
                entrypoint = json.loads(argument)

        if not user or user.split(":")[0] in ("root", "0"):
            failures.append(f"USER must be a non-root user, is {user!r}")
        if image_env.get("HOST") != "0.0.0.0":
            failures.append(f"the image must set HOST=0.0.0.0, sets {image_env.get('HOST')!r}")
        if not healthcheck or "CMD" not in healthcheck:
            failures.append("the image needs a HEALTHCHECK")
        check_cmd = json.loads(healthcheck.split("CMD", 1)[1].strip()) if healthcheck else []

        binary = rootfs / "usr/local/bin/agentgate"
        run_env = {"PATH": f"{binary.parent}:{os.environ.get('PATH', '')}", "HOME": str(scratch)}
        run_env.update(image_env)
        # The image's values, except where this host differs: loopback only, a free port, data in the scratch dir.
        run_env.update({"HOST": "127.0.0.1", "PORT": str(free_port()),
                        "DATABASE_URL": placed(scratch, image_env.get("DATABASE_URL", "/data/agentgate.db"))})
        print(f"   starting {' '.join(entrypoint + cmd)} on 127.0.0.1:{run_env['PORT']}")
        server = subprocess.Popen(entrypoint + cmd, env=run_env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 120
            healthy = False
            while time.monotonic() < deadline and server.poll() is None:
                if subprocess.run(check_cmd, env=run_env, capture_output=True).returncode == 0:
                    healthy = True
                    break
                time.sleep(0.5)
            if healthy:
                print(f"   HEALTHCHECK {' '.join(check_cmd)}: healthy")
            else:
                failures.append("the HEALTHCHECK never passed")
        finally:
            server.terminate()
            try:
                _, stderr = server.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                _, stderr = server.communicate()
            if failures:
                sys.stderr.write(stderr.decode(errors="replace")[-4000:])
        stopped = subprocess.run(check_cmd, env=run_env, capture_output=True).returncode
        if stopped == 0:
            failures.append("the HEALTHCHECK still passes after the gateway stopped")
        return report(failures, scratch, keep)
    finally:
        if not keep:
            shutil.rmtree(scratch, ignore_errors=True)


def report(failures, scratch, keep):
    if keep:
        print(f"kept {scratch}")
    if failures:
        for failure in failures:
            print(f"FAILED: {failure}", file=sys.stderr)
        return 1
    print("ok: the Dockerfile's build steps ran natively and the binary passes the image's HEALTHCHECK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
