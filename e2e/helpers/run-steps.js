// Runs a list of commands one after the other and prints their results as one JSON array on stdout. For
// tests that must run several processes inside one environment they cannot enter themselves, such as a
// D-Bus session with GNOME Keyring (`dbus-run-session -- sh -c '...; node run-steps.js'`).
// Input: $STOWAGE_STEPS, JSON [{ "command": "...", "args": [...], "input": "..." }]. Children inherit the
// environment (so the session bus address too).
import { spawnSync } from 'node:child_process';

const steps = JSON.parse(process.env.STOWAGE_STEPS ?? '[]');
const results = [];
for (const step of steps) {
  const run = spawnSync(step.command, step.args ?? [], { input: step.input ?? '', encoding: 'utf8', timeout: 60_000 });
  results.push({ code: run.status ?? -1, stdout: run.stdout ?? '', stderr: run.stderr ?? '', error: run.error?.message });
}
process.stdout.write(JSON.stringify(results));
