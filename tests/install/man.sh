#!/bin/bash
# The manual pages are complete (TAP):
#   - every key of the configuration loader's table (src/util/config.c) is
#     set in conf/forkbox.conf and has an entry in forkbox.conf(5) whose
#     "Default:" is the value conf/forkbox.conf gives it;
#   - every command `forkbox --help` lists, and every subcommand in the
#     SYNOPSIS of `forkbox help COMMAND`, has its own section in forkbox(1),
#     and every --option of each command's help appears there;
#   - every --option of `forkbox-fcgi --help` appears in forkbox-fcgi(8);
#   - the built pages render without groff warnings.
# Keys, commands and options are read from the program, so the test stays
# true as they are added.
set -u
src=${FORKBOX_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${FORKBOX_BUILDDIR:-$src}
forkbox=$build/forkbox
fcgi=$build/forkbox-fcgi
# shellcheck source=tests/lib/tap.sh
. "$src/tests/lib/tap.sh"

# Each line: "ok|not ok<TAB>text", from the Python checker below.
report() {
	local status text
	while IFS=$'\t' read -r status text; do
		if [ "$status" = ok ]; then ok "$text"; else not_ok "$text"; fi
	done
}

report < <(python3 - "$src" <<'EOF'
import re, sys
src = sys.argv[1]

def say(good, text):
    print(("ok" if good else "not ok") + "\t" + text)

def roff_text(path):
    """The page's source with roff escapes for -, " and the package's
    data directory as conf/forkbox.conf writes them."""
    text = open(path).read()
    return (text.replace("\\-", "-").replace("\\(dq", '"')
            .replace("@pkgdatadir@", "/usr/share/forkbox"))

loader = open(src + "/src/util/config.c").read()
table = re.search(r"static const struct key keys\[\] = \{(.*?)\n\};", loader, re.S)
keys = re.findall(r'^\s*(?:[A-Z]+\(|\{)"([a-z_]+)", "([a-z_]+)"', table.group(1), re.M) if table else []
say(len(keys) >= 30, "the loader's key table (src/util/config.c) lists %d keys" % len(keys))

# conf/forkbox.conf: "group = {" blocks of "<tab>key = value;" lines.
conf = {}
group = None
for line in open(src + "/conf/forkbox.conf"):
    m = re.match(r"^([a-z_]+) = \{", line)
    if m:
        group = m.group(1)
    m = re.match(r"^\t([a-z_]+) = (.*);\s*$", line)
    if m and group:
        conf[(group, m.group(1))] = m.group(2)

# forkbox.conf(5): '.SS "group: ..."' sections of '.TP / .B key' entries.
page = roff_text(src + "/docs/man/forkbox.conf.5.in")
entries = {}
for section in re.split(r"^\.SS ", page, flags=re.M)[1:]:
    g = re.match(r'"?([a-z_]+)', section).group(1)
    for entry in re.split(r"^\.TP\n", section, flags=re.M)[1:]:
        m = re.match(r"\.B ([a-z_]+)\n", entry)
        if m:
            entries[(g, m.group(1))] = re.split(r"^\.(?:SH|SS|PP)\b", entry, flags=re.M)[0]

# The templates group: the keys of a template's entry (templates.NAME.KEY,
# parsed apart from the table) each have an entry under ".SS templates" and
# appear in conf/forkbox.conf.
entry_parser = re.search(r"\n/\* templates\.NAME = .*?\n\}\n", loader, re.S)
entry_keys = re.findall(r'!strcmp\(k, "([a-z_]+)"\)', entry_parser.group(0)) if entry_parser else []
say(len(entry_keys) >= 4, "the loader reads %d keys of a templates entry (%s)"
    % (len(entry_keys), ", ".join(entry_keys)))
group = re.search(r"((?:^#.*\n)*)^templates = \{.*?^\};", open(src + "/conf/forkbox.conf").read(),
                  re.M | re.S)
for k in entry_keys:
    say(("templates", k) in entries, "templates.NAME.%s: in forkbox.conf(5)" % k)
    say(group is not None and re.search(r"\b%s\b" % k, group.group(0)) is not None,
        "templates.NAME.%s: in conf/forkbox.conf's templates group or its comment" % k)

for g, k in keys:
    value = conf.get((g, k))
    entry = entries.get((g, k))
    if value is None:
        say(False, "%s.%s: missing from conf/forkbox.conf" % (g, k))
    elif entry is None:
        say(False, "%s.%s: missing from forkbox.conf(5) (docs/man/forkbox.conf.5.in)" % (g, k))
    else:
        documented = "Default: \\fB%s\\fR" % value in entry
        say(documented, "%s.%s: in conf/forkbox.conf and forkbox.conf(5), default %s%s"
            % (g, k, value, "" if documented else " NOT given as the page's Default:"))
EOF
)

# forkbox(1): every command, subcommand and option of the program's help.
page1=$src/docs/man/forkbox.1.in
man1=$(sed -e 's/\\-/-/g' "$page1")
mapfile -t commands < <("$forkbox" --help | sed -n 's/^  \([a-z][a-z-]*\) .*/\1/p')
if [ ${#commands[@]} -ge 5 ]; then
	ok "forkbox --help lists ${#commands[@]} commands: ${commands[*]}"
else
	not_ok "forkbox --help lists the commands (found ${#commands[@]}: ${commands[*]})"
fi
for cmd in "${commands[@]}"; do
	help=$("$forkbox" help "$cmd")
	# "forkbox template build ...": the subcommands of the SYNOPSIS.
	mapfile -t forms < <(printf '%s\n' "$help" | sed -n '/^SYNOPSIS/,/^[A-Z]/p' |
		sed -n "s/^    forkbox $cmd\( [a-z][a-z-]*\)\{0,1\}\( .*\)\{0,1\}$/forkbox $cmd\1/p" | sort -u)
	[ ${#forms[@]} -gt 0 ] || forms=("forkbox $cmd")
	for form in "${forms[@]}"; do
		if grep -q "^\.SS \"$form\b" <<<"$man1"; then
			ok "forkbox(1) has a section for '$form'"
		else
			not_ok "forkbox(1) has no section '.SS \"$form ...\"' (docs/man/forkbox.1.in)"
		fi
	done
	mapfile -t options < <(printf '%s\n' "$help" | grep -oE -- '--[a-z][a-z-]+' | sort -u)
	missing=()
	for opt in "${options[@]}"; do
		grep -qF -- "$opt" <<<"$man1" || missing+=("$opt")
	done
	if [ ${#missing[@]} = 0 ]; then
		ok "forkbox(1) documents the ${#options[@]} options of 'forkbox $cmd' (${options[*]})"
	else
		not_ok "forkbox(1) lacks options of 'forkbox $cmd': ${missing[*]}"
	fi
done

# forkbox-fcgi(8): every option of --help.
man8=$(sed -e 's/\\-/-/g' "$src/docs/man/forkbox-fcgi.8.in")
mapfile -t options < <("$fcgi" --help | grep -oE -- '--[a-z][a-z-]+' | sort -u)
missing=()
for opt in "${options[@]}"; do
	grep -qF -- "$opt" <<<"$man8" || missing+=("$opt")
done
if [ ${#options[@]} -ge 5 ] && [ ${#missing[@]} = 0 ]; then
	ok "forkbox-fcgi(8) documents the ${#options[@]} options of forkbox-fcgi --help (${options[*]})"
else
	not_ok "forkbox-fcgi(8) documents every option of forkbox-fcgi --help (found ${#options[@]}, missing: ${missing[*]})"
fi

# The built pages render cleanly.
for page in forkbox.1 forkbox-fcgi.8 forkbox.conf.5; do
	built=$build/docs/man/$page
	if [ ! -s "$built" ]; then
		not_ok "$built is built (make)"
		continue
	fi
	# All warnings but "cannot adjust/break line": long install paths.
	warnings=$(LC_ALL=C.UTF-8 groff -man -ww -Wbreak -z -Tutf8 "$built" 2>&1)
	leftover=$(grep -n '@[a-zA-Z_]*@' "$built")
	if [ -z "$warnings$leftover" ]; then
		ok "$page renders without groff warnings, every placeholder filled in"
	else
		not_ok "$page renders cleanly"
		printf '%s\n' "$warnings" "$leftover" | sed 's/^/# /'
	fi
done

finish
