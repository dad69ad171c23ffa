/*
 * One POP3 session per maildrop at a time (RFC 1939 8: the server must lock
 * it, else two sessions' deletions and numbering would collide). A lock file in
 * the Maildir, created exclusively and holding our pid, keeps out sessions of
 * other gateway processes sharing the mail store; a set keeps out this
 * process's own. A lock left by a process that died is taken over, so a crash
 * never locks a user out.
 */
import { readFile, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

const LOCK_NAME = '.qgate-pop3.lock';
const held = new Set<string>();

export interface MaildropLock {
  release(): Promise<void>;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it runs, as another user.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function createLock(file: string): Promise<boolean> {
  try {
    await writeFile(file, `${process.pid}\n`, { flag: 'wx', mode: 0o600 });
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
}

/** The lock of `maildir` (which exists), or undefined if another session holds it. */
export async function lockMaildrop(maildir: string): Promise<MaildropLock | undefined> {
  if (held.has(maildir)) return undefined;
  held.add(maildir);
  const file = join(maildir, LOCK_NAME);
  try {
    let ok = await createLock(file);
    if (!ok) {
      const pid = Number.parseInt(await readFile(file, 'utf8').catch(() => ''), 10);
      // Our own pid in a file no session of ours holds: a run before a restart left it.
      if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid || !alive(pid)) {
        await unlink(file).catch(() => undefined);
        ok = await createLock(file);
      }
    }
    if (!ok) {
      held.delete(maildir);
      return undefined;
    }
  } catch (err) {
    held.delete(maildir);
    throw err;
  }
  let released = false;
  return {
    async release() {
      if (released) return;
      released = true;
      await unlink(file).catch(() => undefined);
      held.delete(maildir);
    },
  };
}
