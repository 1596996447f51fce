# Step timing, sourced by .ci/run and infra/test.sh: `step NAME command...` runs one command
# and records its seconds in $ACCEPTED_TIMINGS (a TSV file); under `set -e` a failing step
# ends the script, and `steps_on_exit` (the EXIT trap) records it as failed and prints the
# table: every step, its seconds and its outcome.
# shellcheck shell=bash
_step_name=""
_step_start=0

step() { # name command...
  _step_name="$1"
  shift
  printf '\n[step] %s\n' "$_step_name" >&2
  _step_start=$SECONDS
  "$@"
  printf '%s\t%s\tok\n' "$_step_name" $((SECONDS - _step_start)) >>"$ACCEPTED_TIMINGS"
  _step_name=""
}

steps_table() {
  [[ -s "$ACCEPTED_TIMINGS" ]] || return 0
  awk -F'\t' '
    # A background step overlaps the others: the total is of the foreground rows only.
    { rows[NR] = $0; if ($1 !~ /\(background\)$/) total += $2; if (length($1) > width) width = length($1) }
    END {
      printf "\n%-*s  %7s  %s\n", width, "step", "seconds", "outcome"
      for (i = 1; i <= NR; i++) { split(rows[i], f, "\t"); printf "%-*s  %7d  %s\n", width, f[1], f[2], f[3] }
      printf "%-*s  %7d\n", width, "total (wall)", total
    }' "$ACCEPTED_TIMINGS" >&2
}

steps_on_exit() { # status print-table(0/1)
  steps_stop_background
  if [[ -n "$_step_name" ]]; then
    printf '%s\t%s\tFAILED (exit %s)\n' "$_step_name" $((SECONDS - _step_start)) "$1" >>"$ACCEPTED_TIMINGS"
    _step_name=""
  fi
  [[ "$2" == 1 ]] && steps_table
  return 0
}

# A step that runs beside the others: `step_background NAME LOG command...` starts it in its
# own process group at the lowest CPU priority (it takes only the CPU the foreground steps
# leave idle); `step_wait` waits for it and records two rows: its own wall time, and the time
# the run spent waiting for it. Its output goes to LOG, printed if it fails.
_bg_name=""
_bg_pid=""
_bg_log=""
_bg_start=0

step_background() { # name log command...
  _bg_name="$1"
  _bg_log="$2"
  shift 2
  printf '\n[step] %s (in the background, output in %s)\n' "$_bg_name" "$_bg_log" >&2
  _bg_start=$SECONDS
  setsid nice -n 19 "$@" >"$_bg_log" 2>&1 &
  _bg_pid=$!
}

_bg_result() {
  local status=0
  wait "$_bg_pid" || status=$?
  local outcome=ok
  ((status == 0)) || outcome="FAILED (exit $status)"
  printf '%s (background)\t%s\t%s\n' "$_bg_name" $((SECONDS - _bg_start)) "$outcome" >>"$ACCEPTED_TIMINGS"
  _bg_pid=""
  if ((status != 0)); then
    cat "$_bg_log" >&2
    return "$status"
  fi
}

step_wait() {
  step "waiting for $_bg_name" _bg_result
}

# On exit: a background step still running is stopped, with everything it started.
steps_stop_background() {
  [[ -n "$_bg_pid" ]] || return 0
  kill -TERM -- "-$_bg_pid" 2>/dev/null || true
  wait "$_bg_pid" 2>/dev/null || true
  printf '%s (background)\t%s\tstopped\n' "$_bg_name" $((SECONDS - _bg_start)) >>"$ACCEPTED_TIMINGS"
  _bg_pid=""
}
