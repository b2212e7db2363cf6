#!/usr/bin/env bash
# Builds a netns lab (N "hosts" on this machine, each a network namespace with
# eth0 on a shared bridge in its own underlay namespace; addresses from the
# test range 10.77.0.0/24, never routed), runs a command with LAB_NAME set (or
# waits for Ctrl-C), and tears everything down on exit, success or failure.
#
#   deploy/lab/lab.sh [--hosts N] [--name PREFIX] [--subnet CIDR] [-- command ...]
#   deploy/lab/lab.sh --shoal [--hosts N] [--dataplane auto|nftables|userspace]
#       a shoal node in every host (netns mode, host 0 the manager), until Ctrl-C
#   deploy/lab/lab.sh down PREFIX        # remove a lab a crash left behind
#
# Needs root and a built tree (npm run build). Host k is namespace PREFIX-hK:
#   ip netns exec PREFIX-h0 ip addr show eth0
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cli="${SHOAL_LAB_CLI:-$here/../../dist/src/net/lab-cli.js}"
[ -f "$cli" ] || { echo "lab.sh: $cli not found; run npm run build first" >&2; exit 1; }

if [ "${1:-}" = down ]; then
  [ -n "${2:-}" ] || { echo "usage: lab.sh down PREFIX" >&2; exit 1; }
  exec node "$cli" down --name "$2"
fi

hosts=3 name="shl$(od -An -N2 -tx1 /dev/urandom | tr -d ' \n')" subnet=10.77.0.0/24 shoal= dataplane=auto
while [ $# -gt 0 ]; do
  case "$1" in
    --shoal) shoal=1; shift ;;
    --dataplane) dataplane="$2"; shift 2 ;;
    --hosts) hosts="$2"; shift 2 ;;
    --name) name="$2"; shift 2 ;;
    --subnet) subnet="$2"; shift 2 ;;
    --) shift; break ;;
    *) echo "lab.sh: unknown argument $1" >&2; exit 1 ;;
  esac
done

if [ -n "$shoal" ]; then
  # The CLI runs the nodes in the foreground and removes everything on Ctrl-C.
  exec node "$cli" up --shoal --hosts "$hosts" --name "$name" --subnet "$subnet" --dataplane "$dataplane"
fi

# Tear down on any exit; `down` also removes a half-built lab.
sleeper=
trap '[ -z "$sleeper" ] || kill "$sleeper" 2>/dev/null || true; node "$cli" down --name "$name" >&2' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

node "$cli" up --detach --hosts "$hosts" --name "$name" --subnet "$subnet"
export LAB_NAME="$name"
if [ $# -gt 0 ]; then
  "$@"
else
  echo "lab $name up; Ctrl-C tears it down" >&2
  while :; do sleep 3600 & sleeper=$!; wait "$sleeper"; done
fi
