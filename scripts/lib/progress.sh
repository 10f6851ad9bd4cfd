# shellcheck shell=bash
# Progress lines for long build steps (source it): the guest kernel and
# root filesystem builds, the Debian package build. A step announces its
# stage; while it lasts, the stage and the elapsed time are printed again
# every FORKBOX_PROGRESS_S seconds (default 10), so no step is silent for
# long:
#
#   progress_start kernel "compiling" "find $tree -name '*.o' | wc -l" objects
#   make ...
#   progress_stop
#
# prints "kernel: [ 12s] compiling" at once, then
# "kernel: [ 22s] compiling (1234 objects)" every 10 s, on stderr. The time
# is bash's $SECONDS: since the script started.

_progress_pid=

# progress_start PREFIX STAGE [DETAIL_COMMAND UNIT]
progress_start() {
	progress_stop
	local prefix=$1 stage=$2 detail=${3:-} unit=${4:-} parent=$$
	printf '%s: [%4ds] %s\n' "$prefix" "$SECONDS" "$stage" >&2
	(
		# The sleep holds no pipe of the caller's, and dies with the ticker.
		trap - EXIT
		trap 'kill "$nap" 2>/dev/null; exit 0' TERM
		while :; do
			# shellcheck disable=SC2217 # no fd of the caller's stays open
			sleep "${FORKBOX_PROGRESS_S:-10}" </dev/null >/dev/null 2>&1 &
			nap=$!
			wait "$nap"
			kill -0 "$parent" 2>/dev/null || exit 0
			if [ -n "$detail" ]; then
				printf '%s: [%4ds] %s (%s%s)\n' "$prefix" "$SECONDS" "$stage" \
					"$(eval "$detail" 2>/dev/null)" "${unit:+ $unit}" >&2
			else
				printf '%s: [%4ds] %s\n' "$prefix" "$SECONDS" "$stage" >&2
			fi
		done
	) &
	_progress_pid=$!
}

# progress_stop: end the repeating line of the current stage.
progress_stop() {
	[ -n "$_progress_pid" ] || return 0
	kill "$_progress_pid" 2>/dev/null
	wait "$_progress_pid" 2>/dev/null
	_progress_pid=
	return 0
}
