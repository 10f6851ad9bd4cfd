#!/bin/bash
# Bad client input on the real engine: tests/e2e/bad-input.sh in its Python
# dialect behind nginx (code with a NUL byte refused by Python, binary output
# in JSON and SSE, extreme timeouts, clients leaving mid-stream and
# mid-batch: their VMs destroyed, the worker's fds and threads unchanged),
# through t-e2e.sh's setup. Its own test host boot and time budget.
# timeout: 600
exec env FORKBOX_E2E_SCRIPTS=bad-input "$(dirname "$0")/t-e2e.sh"
