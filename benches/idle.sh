#!/bin/sh
# Idle CPU and memory of the cockpit, each process on its own: the simulated
# cluster (`flightdeck sim serve`) in one, the cockpit in a 200x50 tmux
# window in another. After a warm-up, samples utime+stime from /proc/PID/stat
# over a quiet spell (no keys pressed) and reads VmRSS.
#
#   benches/idle.sh [BINARY] [SCENARIO] [SECONDS]
#   benches/idle.sh target/release/flightdeck healthy-canary 10
#   benches/idle.sh target/release/flightdeck large 10
#   SPEED=20 WARMUP=660 benches/idle.sh target/release/flightdeck healthy-canary 10
#     (the simulated cluster 20 times faster)
#   WARMUP=540 benches/idle.sh target/release/flightdeck large-full-ring 10
#     (large, with svc-00 serving 3,000 requests/s: its 100 pods log 200
#     lines/s, the simulator's most, so the cockpit's ring fills in 9 minutes)
#   SPEED=5 LOG_LINES=1000000 FILL=1000000 benches/idle.sh target/release/flightdeck ring-fill 10
#     (a ring of a million lines, `--log-lines 1000000`: one app of 1,000
#     pods logging 2,000 lines/s, 10,000 at speed 5 when the simulator keeps
#     up; FILL waits until the Logs pane counts that many lines)
#
# Besides CPU and memory it reports what does not depend on the machine's
# load: frames the cockpit wrote to the terminal and renders it made (from
# FLIGHTDECK_FRAME_STATS), and the process's context switches (every
# thread's wake-ups), per minute of the window.
#
# Budget: the cockpit under 1% of a core; under 100 MB with the large scenario.
set -eu
bin=$(realpath "${1:-target/release/flightdeck}")
scenario=${2:-healthy-canary}
secs=${3:-10}
warmup=${WARMUP:-10}
speed=${SPEED:-1}
# TARGET overrides what the cockpit opens, e.g. TARGET="--app checkout -n shop".
case ${TARGET:+set}$scenario in
  set*) target=$TARGET ;;
  healthy-canary) target="--plan $(realpath assets/plans/canary-istio.toml)" ;;
  large|large-full-ring|ring-fill) target="--namespace fleet --app svc-00" ;;
  *) target="--plan $(realpath "assets/plans/$scenario.toml")" ;;
esac

dir=$(mktemp -d)
sock="$dir/tmux.sock"
if [ "$scenario" = large-full-ring ]; then
  sed '0,/requests_per_second = 20.0/s//requests_per_second = 3000.0/' \
    assets/scenarios/large.toml > "$dir/large-full-ring.toml"
  scenario="$dir/large-full-ring.toml"
fi
if [ "$scenario" = ring-fill ]; then
  # One app of 1,000 pods, each logging the simulator's most (2 lines/s):
  # 2,000 lines/s at speed 1, enough to fill a million-line ring.
  cat >"$dir/ring-fill.toml" <<TOML
name = "ring-fill"
description = "svc-00: 1,000 pods logging 2,000 lines/s, to fill a large log ring."

[cluster]
namespaces = ["fleet"]
nodes = 100

[[apps]]
name = "svc-00"
namespace = "fleet"
strategy = "rolling"
requests_per_second = 3000.0

[[apps.versions]]
name = "stable"
image = "registry.local/fleet/svc-00:1.0.0"
replicas = 1000
ready_after = "2s"
TOML
  scenario="$dir/ring-fill.toml"
fi
cleanup() {
  tmux -S "$sock" kill-server 2>/dev/null || true
  kill "$sim" 2>/dev/null || true
  rm -rf "$dir"
}
"$bin" sim serve --scenario "$scenario" --speed "$speed" --kubeconfig-out "$dir/kubeconfig" 2>"$dir/sim.log" &
sim=$!
trap cleanup EXIT
while [ ! -s "$dir/kubeconfig" ]; do sleep 0.2; done

lines_flag=${LOG_LINES:+--log-lines $LOG_LINES}
stats="$dir/frames"
tmux -S "$sock" -f /dev/null new-session -d -s idle -x 200 -y 50 \
  "FLIGHTDECK_FRAME_STATS='$stats' exec '$bin' --kubeconfig '$dir/kubeconfig' $target $lines_flag"
cockpit=$(tmux -S "$sock" list-panes -t idle -F '#{pane_pid}')
sleep "$warmup"
ring_lines() { tmux -S "$sock" capture-pane -p -t idle | grep -o '[0-9,]* lines' | head -1 | tr -d ', lines'; }
if [ -n "${FILL:-}" ]; then
  until [ "$(ring_lines)" -ge "$FILL" ] 2>/dev/null; do sleep 5; done
fi

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_mib() { awk '/^VmRSS:/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }
hz=$(getconf CLK_TCK)
switches() { cat /proc/"$1"/task/*/status 2>/dev/null | awk '/ctxt_switches:/ {n += $2} END {print n}'; }
frame_stat() { awk -v k="$1" '{for (i = 1; i < NF; i++) if ($i == k) print $(i + 1)}' "$stats"; }
c0=$(ticks "$cockpit"); s0=$(ticks "$sim"); w0=$(switches "$cockpit")
f0=$(frame_stat frames); r0=$(frame_stat renders); l0=$(frame_stat wakeups)
sleep "$secs"
c1=$(ticks "$cockpit"); s1=$(ticks "$sim"); w1=$(switches "$cockpit")
f1=$(frame_stat frames); r1=$(frame_stat renders); l1=$(frame_stat wakeups)

pct() { awk -v a="$1" -v b="$2" -v hz="$hz" -v s="$secs" 'BEGIN {printf "%.2f", (b - a) / hz / s * 100}'; }
echo "scenario $scenario at ${speed}x, ${secs}s idle after ${warmup}s warm-up"
echo "cockpit: $(pct "$c0" "$c1")% of a core, $(rss_mib "$cockpit") MiB resident"
echo "sim:     $(pct "$s0" "$s1")% of a core, $(rss_mib "$sim") MiB resident"
per_min() { awk -v a="$1" -v b="$2" -v s="$secs" 'BEGIN {printf "%.1f", (b - a) * 60 / s}'; }
echo "cockpit per minute: $(per_min "$f0" "$f1") frames written, $(per_min "$r0" "$r1") renders, $(per_min "$l0" "$l1") loop wake-ups, $(per_min "$w0" "$w1") context switches (all threads)"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
screen=$(tmux -S "$sock" capture-pane -p -t idle)
echo "$screen" | head -3
# The Logs pane's title counts the lines in the ring.
echo "$screen" | grep -o '[0-9,]* lines' | head -1
