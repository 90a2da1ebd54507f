#!/usr/bin/env bash
# Installs what the test suites need on a Debian machine, only where it is missing:
#   docker-registry (CNCF distribution 2.8) for integration and e2e tests,
#   apache2-utils (htpasswd), skopeo and umoci for layout interop,
#   dbus and gnome-keyring for the OS keychain test, zsh for the shell-completion test,
#   oras (Debian sid's Go binary, unpacked into .tools/ without touching the system's apt sources).
# Then installs the npm dependencies with `npm ci` and builds the CLI.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi

need_apt=()
command -v docker-registry >/dev/null 2>&1 || need_apt+=(docker-registry)
command -v htpasswd >/dev/null 2>&1 || need_apt+=(apache2-utils)
command -v skopeo >/dev/null 2>&1 || need_apt+=(skopeo)
command -v umoci >/dev/null 2>&1 || need_apt+=(umoci)
# The OS keychain test: GNOME Keyring's Secret Service in a private D-Bus session.
command -v dbus-run-session >/dev/null 2>&1 || need_apt+=(dbus)
command -v gnome-keyring-daemon >/dev/null 2>&1 || need_apt+=(gnome-keyring)
# Test certificates (TLS, token signing) and the terminal-prompt test.
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)
command -v script >/dev/null 2>&1 || need_apt+=(bsdutils)
# The shell-completion test parses the zsh completion function.
command -v zsh >/dev/null 2>&1 || need_apt+=(zsh)
if [ "${#need_apt[@]}" -gt 0 ]; then
  echo "test-setup: apt-get install ${need_apt[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
# The Debian package starts a registry service on :5000 on some systems; the tests start their own.

tools="$PWD/.tools"
if [ ! -x "$tools/bin/oras" ]; then
  echo "test-setup: fetching oras from Debian sid into .tools/"
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$tools/bin"
  echo "deb http://deb.debian.org/debian sid main" > "$work/sources.list"
  apt_opts=(-o "Dir::Etc::sourcelist=$work/sources.list" -o "Dir::Etc::sourceparts=-"
            -o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache" -o "APT::Get::List-Cleanup=0")
  $SUDO apt-get "${apt_opts[@]}" update -qq
  (cd "$work" && $SUDO apt-get "${apt_opts[@]}" download oras >/dev/null)
  dpkg -x "$work"/oras_*.deb "$work/oras"
  install -m 0755 "$work/oras/usr/bin/oras" "$tools/bin/oras"
fi
# sed reads all of its input: with head, oras could die of SIGPIPE and pipefail fail the set-up.
"$tools/bin/oras" version | sed -n 1p

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
npm run build
