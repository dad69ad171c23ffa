/*
 * Running as an unprivileged user after starting as root (config `user:` and
 * `group:`): who that is, handing start-up's files to it, and the drop itself
 * (supplementary groups, gid, uid; real, effective and saved, so it cannot be
 * undone). Linux/POSIX only; a process not started as root changes nothing.
 */
import { execFileSync } from 'node:child_process';
import { chownSync, lstatSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

export interface RunAs {
  readonly user: string;
  readonly uid: number;
  readonly gid: number;
  /** Group name or number, for the log. */
  readonly group: string;
}

/**
 * Resolves `user` and `group` (names or numbers) through the system's user
 * database. Node has no getpwnam(3); getent(1) asks the same NSS sources
 * (files, LDAP, sssd) that it would. Throws a readable error for an unknown name.
 */
/** A `user:` or `group:` that names no account; `key` says which. */
export class UnknownAccount extends Error {
  constructor(
    readonly key: 'user' | 'group',
    message: string,
  ) {
    super(message);
  }
}

export function resolveRunAs(user: string, group?: string): RunAs {
  const passwd = lookup('passwd', user);
  if (!passwd)
    throw new UnknownAccount('user', `user "${user}" does not exist (getent passwd ${user}); create it or fix \`user:\``);
  const [, , uid, primaryGid] = passwd;
  let gid = Number(primaryGid);
  if (group !== undefined) {
    const entry = lookup('group', group);
    if (!entry)
      throw new UnknownAccount('group', `group "${group}" does not exist (getent group ${group}); create it or fix \`group:\``);
    gid = Number(entry[2]);
  }
  return { user: passwd[0]!, uid: Number(uid), gid, group: group ?? String(gid) };
}

function lookup(database: 'passwd' | 'group', key: string): string[] | undefined {
  try {
    const line = execFileSync('getent', [database, key], { encoding: 'utf8', timeout: 10_000 }).split('\n')[0]!;
    const fields = line.split(':');
    return fields.length >= 3 && /^\d+$/.test(fields[2]!) ? fields : undefined;
  } catch {
    return undefined; // exit 2: no such entry
  }
}

export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/**
 * Gives `path` and everything under it to `owner` (lchown: a symlink is never
 * followed out of the tree). Entries already owned by it are left alone, so a
 * restart costs one lstat per entry.
 */
export function chownTree(path: string, owner: RunAs): void {
  const stat = lstatSync(path, { throwIfNoEntry: false });
  if (!stat) return;
  if (stat.uid !== owner.uid || stat.gid !== owner.gid) chownSync(path, owner.uid, owner.gid);
  if (!stat.isDirectory()) return;
  for (const name of readdirSync(path)) chownTree(join(path, name), owner);
}

/**
 * Runs `work` with the effective ids of `owner` (the real and saved ids stay
 * root, so privileges come back afterwards): files it creates belong to
 * `owner`, as if it had run after the drop.
 */
export async function asUser<T>(owner: RunAs, work: () => Promise<T>): Promise<T> {
  setGroups(owner);
  process.setegid!(owner.gid);
  process.seteuid!(owner.uid);
  try {
    return await work();
  } finally {
    process.seteuid!(0);
    process.setegid!(0);
  }
}

/** The drop, for good: groups first (only root may set them), then gid, then uid. */
export function dropPrivileges(owner: RunAs): void {
  setGroups(owner);
  process.setgid!(owner.gid);
  process.setuid!(owner.uid);
  // setuid(2) as root sets the real, effective and saved uid; make sure nothing is left to regain.
  if (process.getuid!() !== owner.uid || process.geteuid!() !== owner.uid || process.getgid!() !== owner.gid) {
    throw new Error(`could not drop privileges to ${owner.user}`);
  }
}

/** The user's supplementary groups (for example ssl-cert, to read a private key), as login(1) sets them. */
function setGroups(owner: RunAs): void {
  // process.initgroups exists on POSIX since Node 0.9 but is missing from @types/node.
  const { initgroups } = process as { initgroups?: (user: string, extraGroup: number) => void };
  try {
    initgroups!(owner.user, owner.gid);
  } catch {
    // A uid without a name in the user database: only its group.
    process.setgroups!([owner.gid]);
  }
}
