#!/bin/bash
# A captain's key to the API server: the time from a key pressed in the
# cockpit to the write it causes arriving at the API server, through the
# release binary. The simulated cluster (`flightdeck sim serve`) runs in one
# process and answers at once (no injected latency); the cockpit, with the
# canary plan, runs in a 200x50 tmux window in another. The rollout is
# started, advanced past its manual first stage, then paused and resumed in
# turn, each press making one write. Each press is stamped just before
# `tmux send-keys` and just after it returns; the API server stamps each
# write's arrival (`GET /sim/apiserver/writes`). The first write after a
# press other than the helm Lease's renewals and Kubernetes Events is the
# one it caused.
#
#   benches/key_to_patch.sh [BINARY] [PRESSES]
#   benches/key_to_patch.sh target/release/flightdeck 200
#
# Goal: p99 under 20 ms. Reported from both stamps: "from before send-keys"
# includes the tmux client delivering the key (a process start, slower on a
# busy machine); "from after send-keys" starts once the key is in the
# cockpit's terminal.
set -eu
bin=$(realpath "${1:-target/release/flightdeck}")
presses=${2:-200}
plan=$(realpath assets/plans/canary-istio.toml)

dir=$(mktemp -d)
sock="$dir/tmux.sock"
cleanup() {
  tmux -S "$sock" kill-server 2>/dev/null || true
  kill "$sim" 2>/dev/null || true
  rm -rf "$dir"
}
"$bin" sim serve --scenario healthy-canary --kubeconfig-out "$dir/kubeconfig" 2>"$dir/sim.log" &
sim=$!
trap cleanup EXIT
while [ ! -s "$dir/kubeconfig" ]; do sleep 0.2; done
url=$(awk '/server:/ {print $2; exit}' "$dir/kubeconfig" | tr -d '"')

tmux -S "$sock" -f /dev/null new-session -d -s keys -x 200 -y 50 \
  "exec '$bin' --kubeconfig '$dir/kubeconfig' --plan '$plan' --audit '$dir/audit.jsonl'"

screen() { tmux -S "$sock" capture-pane -p -t keys; }
wait_for() {
  local i
  for i in $(seq 1 600); do
    if screen | grep -qF -- "$1"; then return 0; fi
    sleep 0.1
  done
  echo "timed out waiting for: $1" >&2
  screen >&2
  exit 1
}
wait_gone() {
  local i
  for i in $(seq 1 600); do
    if ! screen | grep -qF -- "$1"; then return 0; fi
    sleep 0.1
  done
  echo "timed out waiting for this to go: $1" >&2
  screen >&2
  exit 1
}
now_us() { date +%s%6N; }
# Writes that follow from a press, one JSON line each, oldest first.
writes() { curl -sf "$url/sim/apiserver/writes" | grep -v '"resource":"leases"' | grep -v '"resource":"events"' || true; }
last_write_us() { writes | tail -1 | sed 's/.*"at_us":"\([0-9]*\)".*/\1/'; }

# Presses one key and prints "<before> <after> <arrival>" in microseconds.
press() {
  local key=$1 seen before after at i
  seen=$(last_write_us)
  before=$(now_us)
  tmux -S "$sock" send-keys -t keys "$key"
  after=$(now_us)
  for i in $(seq 1 1000); do
    at=$(last_write_us)
    if [ -n "$at" ] && [ "$at" != "$seen" ] && [ "$at" -ge "$before" ]; then
      # The first write after the press, not the last one seen.
      at=$(writes | sed 's/.*"at_us":"\([0-9]*\)".*/\1/' | awk -v b="$before" '$1 >= b {print; exit}')
      echo "$before $after $at"
      return 0
    fi
    sleep 0.01
  done
  echo "no write arrived after pressing $key" >&2
  screen >&2
  exit 1
}

wait_for "at the helm"
wait_for "not started"
tmux -S "$sock" send-keys -t keys S
wait_for "Start a rollout with image"
tmux -S "$sock" send-keys -t keys -l "registry.local/shop/checkout:1.5.0"
tmux -S "$sock" send-keys -t keys Enter
wait_for "stage 1/5 at 10%"
sleep 1

: >"$dir/advance"
# Past the first (manual) stage, into a timed hold: a pause there is a
# person's and a resume gives the hold back, each one write.
press a >>"$dir/advance"
wait_for "stage 2/5 at 25%"
sleep 0.5

: >"$dir/toggle"
for n in $(seq 1 "$presses"); do
  if [ $((n % 2)) -eq 1 ]; then
    press P >>"$dir/toggle"
    wait_for "‖ paused"
  else
    press r >>"$dir/toggle"
    wait_gone "‖ paused"
  fi
  # Let the write's follow-ups (the Event, the watch echo) land first.
  sleep 0.2
done

summary() {
  awk -v name="$1" '
    { from_before[NR] = ($3 - $1) / 1000; from_after[NR] = ($3 - $2) / 1000; send[NR] = ($2 - $1) / 1000 }
    function sort(a, n,   i, j, t) { for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t } }
    function q(a, n, p,   k) { k = int(p * n + 0.999999); if (k < 1) k = 1; if (k > n) k = n; return a[k] }
    END {
      n = NR; sort(from_before, n); sort(from_after, n); sort(send, n)
      printf "%s: %d presses; from before send-keys p50 %.1f ms p99 %.1f ms max %.1f ms; ", name, n, q(from_before, n, 0.5), q(from_before, n, 0.99), from_before[n]
      printf "from after send-keys p50 %.1f ms p99 %.1f ms max %.1f ms; send-keys itself p50 %.1f ms\n", q(from_after, n, 0.5), q(from_after, n, 0.99), from_after[n], q(send, n, 0.5)
    }' "$2"
}
# RAW=FILE keeps each pause/resume press's three stamps.
if [ -n "${RAW:-}" ]; then cp "$dir/toggle" "$RAW"; fi
summary "pause/resume" "$dir/toggle"
summary "advance" "$dir/advance"
