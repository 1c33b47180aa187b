# Shared by scripts/bench and scripts/bench-zoning (sourced, not run): waiting for a quiet machine
# before a timed run and counting the CPU time other processes take during it. quiet() records into
# "$results/NAME.busy", so the caller sets `results` first.
# shellcheck shell=bash

cpu_busy() {  # percent of all CPU time not idle over the next second (other processes: we run nothing then)
  local a b
  read -r _ a1 a2 a3 a4 a5 a6 a7 a8 _ < /proc/stat
  sleep 1
  read -r _ b1 b2 b3 b4 b5 b6 b7 b8 _ < /proc/stat
  a=$(( (b1+b2+b3+b4+b5+b6+b7+b8) - (a1+a2+a3+a4+a5+a6+a7+a8) ))
  b=$(( (b4+b5) - (a4+a5) ))
  echo $(( a > 0 ? 100 * (a - b) / a : 0 ))
}

quiet() {  # quiet NAME: wait (up to $BENCH_QUIET_WAIT s, default 300) until other processes leave the
           # CPUs idle (< 15 % busy), then record the busy share seen just before the run in NAME.busy
  local name=$1 waited=0 busy
  busy=$(cpu_busy)
  while ((busy >= 15 && waited < ${BENCH_QUIET_WAIT:-300})); do
    ((waited == 0)) && echo "   waiting for a quiet machine (other processes use ${busy} % of the CPUs) ..." >&2
    sleep 4; waited=$((waited + 5))
    busy=$(cpu_busy)
  done
  ((busy >= 15)) && echo "   warning: the machine is busy (${busy} %) — timings of $name are disturbed" >&2
  echo "$busy" > "$results/$name.busy"
}

busy_jiffies() {  # CPU time (all CPUs, clock ticks) spent not idle since boot
  local u n s i w q sq st
  read -r _ u n s i w q sq st _ < /proc/stat
  echo $((u + n + s + q + sq + st))
}
clk_tck=$(getconf CLK_TCK)
