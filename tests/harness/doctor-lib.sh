# shellcheck shell=sh
# Helpers of the doctor suites (tests/suites/doctor*): run p2pmr doctor
# with --json and check its rows. Each row of the JSON is one line:
#   {"check": C, "subject": S, "verdict": V, "found": F, "fix": X}
# Sourced after lib.sh.
DOCTOR_JSON=/tmp/doctor.json

# doctor_run STATUS ARGS...: p2pmr doctor ARGS --json exits with STATUS;
# its output stays in DOCTOR_JSON, and goes to stderr (the log).
doctor_run() {
	_want=$1
	shift
	"$P2PMR_BIN/p2pmr" doctor "$@" --json >"$DOCTOR_JSON"
	_rc=$?
	cat "$DOCTOR_JSON" >&2
	[ "$_rc" = "$_want" ] || {
		echo "p2pmr doctor $*: exit status $_rc, expected $_want" >&2
		return 1
	}
}

# doctor_row CHECK SUBJECT VERDICT REGEX: the last doctor_run has a row of
# CHECK for SUBJECT with VERDICT, and the row matches REGEX (extended).
doctor_row() {
	_row=$(grep -F "{\"check\": \"$1\", \"subject\": \"$2\", " "$DOCTOR_JSON")
	[ -n "$_row" ] || {
		echo "no $1 row for $2 in:" >&2
		cat "$DOCTOR_JSON" >&2
		return 1
	}
	echo "$_row" | grep -qF "\"verdict\": \"$3\"" && echo "$_row" | grep -qE -- "$4" || {
		echo "expected verdict $3 and /$4/ in: $_row" >&2
		return 1
	}
}

# doctor_table VERDICT ARGS...: p2pmr doctor ARGS prints the table (to
# stderr, the log) with a row per check and VERDICT as its last line.
doctor_table() {
	_want=$1
	shift
	"$P2PMR_BIN/p2pmr" doctor "$@" >/tmp/doctor.txt
	cat /tmp/doctor.txt >&2
	head -n 1 /tmp/doctor.txt | grep -q '^CHECK  *SUBJECT  *VERDICT  *FOUND$' &&
		[ "$(tail -n 1 /tmp/doctor.txt)" = "$_want" ]
}

# doctor_fix CHECK SUBJECT: the fix of that row, unescaped.
doctor_fix() {
	grep -F "{\"check\": \"$1\", \"subject\": \"$2\", " "$DOCTOR_JSON" |
		sed 's/.*"fix": "\(.*\)"}.*/\1/; s/\\"/"/g; s/\\\\/\\/g'
}
