/*
 * A gateway started by `npm start` (or npx) runs as npm's child. npm passes on
 * SIGTERM and SIGINT but dies of SIGHUP (and of SIGKILL), which would leave the
 * gateway running as an orphan that nothing supervises. So when npm is its
 * parent (or the shell npm ran it in) the gateway watches that parent and stops
 * gracefully once it is gone.
 */
import { readFileSync } from 'node:fs';

/** How often the parent is looked at: a second of orphaned running is harmless. */
const PARENT_CHECK_MS = 1_000;

/** A process as /proc shows it: its command line and its parent. */
export interface ProcessInfo {
  readonly argv: readonly string[];
  readonly ppid: number;
}

/** /proc/<pid> on Linux; undefined elsewhere or when the process is gone. */
export function readProcess(pid: number): ProcessInfo | undefined {
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after the last ')'.
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    return { argv, ppid };
  } catch {
    return undefined;
  }
}

/** npm titles itself "npm <command>"; without a title it is node running npm-cli.js or npx-cli.js. */
function isNpm(p: ProcessInfo): boolean {
  return p.argv.some((arg, i) => (i === 0 && /^npm( |$)/.test(arg)) || /[/\\]np[mx]-cli\.js$/.test(arg));
}

function isShell(p: ProcessInfo): boolean {
  return /(^|\/)(sh|bash|dash)$/.test(p.argv[0] ?? '');
}

/**
 * Whether this process is npm's own script: `npm start` runs it directly (exec),
 * npx through `sh -c`. npm's environment (npm_lifecycle_event, npm_command) alone
 * does not say so: everything an npm script starts inherits it, such as the gateways
 * `npm run bench` starts from its own shell scripts, which outlive their parent.
 */
export function startedByNpm(
  env: NodeJS.ProcessEnv = process.env,
  ppid: number = process.ppid,
  read: (pid: number) => ProcessInfo | undefined = readProcess,
): boolean {
  if (env.npm_lifecycle_event === undefined && env.npm_command === undefined) return false;
  const parent = read(ppid);
  // Without /proc the environment is all there is to go by.
  if (parent === undefined) return true;
  if (isNpm(parent)) return true;
  if (!isShell(parent)) return false;
  const grandparent = read(parent.ppid);
  return grandparent !== undefined && isNpm(grandparent);
}

/** Calls `gone` once `parent` (this process's parent when it started) is no longer its parent: it exited. */
export function onParentGone(parent: number, gone: () => void): void {
  const timer = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(timer);
    gone();
  }, PARENT_CHECK_MS);
  timer.unref();
}
