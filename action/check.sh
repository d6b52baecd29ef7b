#!/usr/bin/env bash
# The action's checks: lint (SARIF and JSON), test, simulate against the base,
# plan against the gateway, then the one pull-request comment. Every check runs
# even when an earlier one fails, so the comment shows them all; the outcome
# goes to $GITHUB_OUTPUT (passed, failed, sarif, plan) and the action's last
# step fails the job. Inputs arrive as RC_* environment variables (action.yml).
set -uo pipefail

out="${RUNNER_TEMP:-/tmp}/routectl${RC_COMMENT_NAME:+-$RC_COMMENT_NAME}"
mkdir -p "$out"
path="${RC_PATH:-.}"
failed=()
reports=()
output() { echo "$1=$2" >> "${GITHUB_OUTPUT:-/dev/null}"; }

# run NAME COMMAND...: stdout to $out/NAME.json, stderr to the log; records a failure.
run() {
  local name=$1
  shift
  echo "::group::routectl $name"
  echo "+ routectl ${*:2}"
  "$@" > "$out/$name.json"
  local rc=$?
  echo "::endgroup::"
  if [ "$rc" -ne 0 ]; then
    failed+=("$name")
    echo "::error title=routectl $name::exit code $rc"
  fi
  if [ -s "$out/$name.json" ]; then
    reports+=("--$name" "$out/$name.json")
  else
    reports+=("--failed-check" "$name=exit code $rc, no report (see the job log)")
  fi
}

routectl lint "$path" --format sarif --fail-severity "${RC_FAIL_SEVERITY:-error}" > "$out/lint.sarif"
[ -s "$out/lint.sarif" ] && output sarif "$out/lint.sarif"
run lint routectl lint "$path" --format json --fail-severity "${RC_FAIL_SEVERITY:-error}"
run test routectl test "$path" --format json

if [ -n "${RC_TRAFFIC:-}" ]; then
  args=(simulate "$path" --format json)
  while IFS= read -r file; do
    [ -n "$file" ] && args+=(--traffic "$file")
  done <<< "$RC_TRAFFIC"
  base="${RC_BASE:-}"
  if [ -z "$base" ] && [ -n "${GITHUB_BASE_REF:-}" ]; then
    git fetch --no-tags --quiet --depth=1 origin \
      "+refs/heads/$GITHUB_BASE_REF:refs/remotes/origin/$GITHUB_BASE_REF"
    base="origin/$GITHUB_BASE_REF"
  fi
  if [ -n "$base" ]; then
    args+=(--base "$base")
    [ -n "${RC_MAX_COST_INCREASE:-}" ] && args+=(--max-cost-increase "$RC_MAX_COST_INCREASE")
    [ -n "${RC_MAX_SHIFT:-}" ] && args+=(--max-shift "$RC_MAX_SHIFT")
  fi
  [ "${RC_FAIL_ON_UNROUTABLE:-false}" = "true" ] && args+=(--fail-on-unroutable)
  read -r -a extra <<< "${RC_SIMULATE_ARGS:-}"
  run simulate routectl "${args[@]}" "${extra[@]}"
fi

if [ -n "${RC_GATEWAY_URL:-}" ] && [ -n "${RC_GATEWAY_TOKEN:-}" ]; then
  rm -f "$out/routectl.plan"
  ROUTECTL_TOKEN="$RC_GATEWAY_TOKEN" run plan routectl plan "$path" \
    --gateway "$RC_GATEWAY_URL" --out "$out/routectl.plan" --format json
  [ -s "$out/routectl.plan" ] && output plan "$out/routectl.plan"
fi

comment=(routectl pr-comment "${reports[@]}" --title "$path" --out "$out/comment.md")
[ -n "${RC_COMMENT_NAME:-}" ] && comment+=(--name "$RC_COMMENT_NAME")
if [ "${GITHUB_EVENT_NAME:-}" = "pull_request" ] && [ "${RC_COMMENT:-true}" = "true" ]; then
  # A comment that cannot be written (a fork's read-only token) is a warning, not a gate.
  "${comment[@]}" || echo "::warning title=routectl::could not write the pull-request comment"
else
  "${comment[@]}" --print > /dev/null
fi
[ -n "${GITHUB_STEP_SUMMARY:-}" ] && [ -s "$out/comment.md" ] && cat "$out/comment.md" >> "$GITHUB_STEP_SUMMARY"

output failed "${failed[*]}"
output passed "$([ ${#failed[@]} -eq 0 ] && echo true || echo false)"
exit 0
