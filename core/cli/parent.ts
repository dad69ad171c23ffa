/*
 * A gateway started by `npm start` runs as npm's child. npm passes on SIGTERM
 * and SIGINT but dies of SIGHUP (and of SIGKILL), which would leave the gateway
 * running as an orphan that nothing supervises. So under npm the gateway
 * watches its parent and stops gracefully once the parent is gone.
 */

/** How often the parent is looked at: a second of orphaned running is harmless. */
const PARENT_CHECK_MS = 1_000;

/** Whether this process was started by an npm script (npm start, npx). */
export function startedByNpm(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.npm_lifecycle_event !== undefined || env.npm_command !== undefined;
}

/** Calls `gone` once, when this process's parent has exited (the process is re-parented). */
export function onParentGone(gone: () => void): void {
  const parent = process.ppid;
  const timer = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(timer);
    gone();
  }, PARENT_CHECK_MS);
  timer.unref();
}
