/* `forkbox doctor`: report whether this host can run forkbox templates
 * (src/util/probe.h) and say so in the exit status. */
#include "cli/commands.h"
#include "util/probe.h"

#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

/* 2 already means "KVM works, no stock kernel", so a bad command line gets
 * its own status (EX_USAGE) here. */
#define DOCTOR_EXIT_USAGE 64

struct doctor_opts {
	bool quiet, require_native, json;
};

static void print_text(const struct fb_kvm_report *r)
{
	printf("forkbox doctor: can this host run forkbox templates?\n");
	for (size_t i = 0; i < r->n_checks; i++)
		printf("  %-5s %-12s %s\n", fb_check_status_name(r->checks[i].status),
		       r->checks[i].name, r->checks[i].detail);
	printf("verdict: %s (backend %s, exit %d)\n%s\n", fb_kvm_verdict_name(r->verdict),
	       fb_kvm_backend_name(r->backend), (int)r->verdict, r->reason);
	if (r->fallback[0])
		printf("fallback: %s\n", r->fallback);
}

static json_t *report_json(const struct fb_kvm_report *r)
{
	json_t *checks = json_array();
	for (size_t i = 0; checks && i < r->n_checks; i++)
		json_array_append_new(checks,
				      json_pack("{s:s, s:s, s:s}", "name", r->checks[i].name,
						"status", fb_check_status_name(r->checks[i].status),
						"detail", r->checks[i].detail));
	return json_pack("{s:s, s:i, s:b, s:s, s:s, s:s*, s:o}", "verdict",
			 fb_kvm_verdict_name(r->verdict), "exit_code", (int)r->verdict, "native",
			 r->verdict == FB_KVM_NATIVE, "backend", fb_kvm_backend_name(r->backend),
			 "reason", r->reason, "fallback", r->fallback[0] ? r->fallback : NULL,
			 "checks", checks);
}

static int print_json(const struct fb_kvm_report *r)
{
	json_t *root = report_json(r);
	if (!root || json_dumpf(root, stdout, JSON_INDENT(2)) < 0) {
		fprintf(stderr, "forkbox doctor: cannot build the JSON report\n");
		json_decref(root);
		return -1;
	}
	putchar('\n');
	json_decref(root);
	return 0;
}

static int parse_opts(int argc, char **argv, struct doctor_opts *o)
{
	static const struct option longopts[] = {
	    {"quiet", no_argument, NULL, 'q'},
	    {"require-native", no_argument, NULL, 'n'},
	    {"json", no_argument, NULL, 'j'},
	    {NULL, 0, NULL, 0},
	};
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "q", longopts, NULL)) != -1) {
		switch (c) {
		case 'q':
			o->quiet = true;
			break;
		case 'n':
			o->require_native = true;
			break;
		case 'j':
			o->json = true;
			break;
		default:
			fb_usage_error("doctor", "unknown option '%s'", argv[optind - 1]);
			return -1;
		}
	}
	if (optind < argc) {
		fb_usage_error("doctor", "unexpected argument '%s'", argv[optind]);
		return -1;
	}
	return 0;
}

static int doctor_main(int argc, char **argv)
{
	struct doctor_opts o = {false, false, false};
	struct fb_kvm_report report;
	if (parse_opts(argc, argv, &o) < 0)
		return DOCTOR_EXIT_USAGE;
	enum fb_kvm_verdict verdict = fb_probe_kvm(&report);
	if (o.require_native) {
		if (verdict != FB_KVM_NATIVE && !o.quiet)
			fprintf(stderr, "%s; fallback: %s\n", report.reason, report.fallback);
	} else if (o.json) {
		if (print_json(&report) < 0)
			return FB_KVM_UNUSABLE;
	} else if (!o.quiet) {
		print_text(&report);
	}
	return (int)verdict;
}

const struct fb_command fb_cmd_doctor = {
    .name = "doctor",
    .summary = "check whether this host can run forkbox templates (KVM probe)",
    .main = doctor_main,
    .help = "NAME\n"
	    "    forkbox doctor - check whether this host can run forkbox templates\n"
	    "\n"
	    "SYNOPSIS\n"
	    "    forkbox doctor [--quiet] [--require-native] [--json]\n"
	    "\n"
	    "DESCRIPTION\n"
	    "    Probes /dev/kvm: whether it exists and opens read-write, speaks KVM API\n"
	    "    version 12 and creates a VM; which backend provides it (Intel VMX with\n"
	    "    kvm_intel, AMD SVM with kvm_amd, or PVM, software KVM, with kvm_pvm);\n"
	    "    and, as the final word, whether a tiny 64-bit ring-0 guest can run\n"
	    "    what a stock Linux kernel needs early (xsetbv, xrstor/xsave, int3 and\n"
	    "    int $0x20 through the IDT, iretq) to a clean hlt. On PVM that guest\n"
	    "    stops with KVM_EXIT_INTERNAL_ERROR (emulation failure): ring-0 code is\n"
	    "    emulated there, and a stock guest kernel cannot boot. The guest run is\n"
	    "    bounded (3 s) by a timer signal, so the probe cannot hang.\n"
	    "\n"
	    "    Prints each check as OK, FAIL or SKIP with its detail, the verdict,\n"
	    "    the reason, and a fallback when the host cannot run templates.\n"
	    "\n"
	    "OPTIONS\n"
	    "    -q, --quiet\n"
	    "        Print nothing; only the exit status tells.\n"
	    "    --require-native\n"
	    "        Print nothing but, when the host is not native, the reason and\n"
	    "        fallback on one line on stderr (nothing at all with --quiet).\n"
	    "        Takes precedence over --json.\n"
	    "    --json\n"
	    "        Print the report as a JSON object: verdict, exit_code, native,\n"
	    "        backend, reason, fallback (absent when native) and checks\n"
	    "        (name, status, detail).\n"
	    "    -h, --help\n"
	    "        Show this manual.\n"
	    "\n"
	    "EXIT STATUS\n"
	    "    0   native: hardware virtualization, stock guest kernels run.\n"
	    "    1   KVM unusable: no /dev/kvm, no permission, wrong API version,\n"
	    "        KVM_CREATE_VM or vCPU setup fails.\n"
	    "    2   KVM works but cannot run a stock guest kernel (PVM): use the\n"
	    "        KVM test host (tests/kvmhost/run) or a machine with vmx/svm.\n"
	    "    64  bad command line.\n"
	    "    The status is the same with and without --require-native, --quiet\n"
	    "    and --json; those only change what is printed.\n"
	    "\n"
	    "EXAMPLES\n"
	    "    forkbox doctor\n"
	    "    forkbox doctor --json | jq .verdict\n"
	    "    forkbox doctor --quiet --require-native || exec tests/kvmhost/run ...\n",
};
