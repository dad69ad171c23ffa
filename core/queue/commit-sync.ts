/*
 * What queue.commit_sync "auto" comes to for a queue directory: "file" (rename, then
 * one fsync of the file) on the file systems known to make a file's fsync carry the
 * rename that gave it its name, "directory" (the directory fsynced too) everywhere
 * else. The file system is read from /proc/self/mountinfo; where that cannot be read
 * (not Linux) or names another file system, the answer is the two flushes.
 */
import { readFileSync, realpathSync } from 'node:fs';
import { dirname } from 'node:path';

export type CommitSync = 'directory' | 'file';
export type CommitSyncSetting = CommitSync | 'auto';

/**
 * ext3 and ext4 commit a rename in the journal transaction the file's fsync commits (the
 * rename sets the file's ctime); ext4 without a journal writes the directory a file was
 * just added to from that fsync; XFS forces its log up to the file's last change, the
 * rename included. This is the property Postfix requires of the file system under its
 * own queue, which never fsyncs a directory.
 */
const ONE_FLUSH_FILE_SYSTEMS: ReadonlySet<string> = new Set(['ext3', 'ext4', 'xfs']);

/** The type of the file system mounted on the longest mount point that holds `path` (an absolute, real path). */
export function fileSystemOf(mountinfo: string, path: string): string | undefined {
  let best: { point: string; type: string } | undefined;
  for (const line of mountinfo.split('\n')) {
    // id parent major:minor root mount-point options [optional fields...] - type source super-options
    const fields = line.split(' ');
    const separator = fields.indexOf('-', 6);
    if (fields.length < 7 || separator < 0 || separator + 1 >= fields.length) continue;
    const point = unescapeMountPath(fields[4]!);
    const inside = point === '/' || path === point || path.startsWith(`${point}/`);
    // Later lines are mounted on top of earlier ones at the same point.
    if (inside && (!best || point.length >= best.point.length)) best = { point, type: fields[separator + 1]! };
  }
  return best?.type;
}

/** mountinfo writes space, tab, newline and backslash in paths as octal escapes. */
function unescapeMountPath(path: string): string {
  return path.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(Number.parseInt(octal, 8)));
}

export interface ResolvedCommitSync {
  readonly commitSync: CommitSync;
  /** The queue's file system, when it could be told. */
  readonly fileSystem?: string;
}

export function resolveCommitSync(setting: CommitSyncSetting, queueRoot: string): ResolvedCommitSync {
  const fileSystem = queueFileSystem(queueRoot);
  if (setting !== 'auto') return { commitSync: setting, fileSystem };
  const commitSync = fileSystem !== undefined && ONE_FLUSH_FILE_SYSTEMS.has(fileSystem) ? 'file' : 'directory';
  return { commitSync, fileSystem };
}

function queueFileSystem(queueRoot: string): string | undefined {
  let mountinfo: string;
  try {
    mountinfo = readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return undefined;
  }
  // The queue directory may not exist yet: its nearest existing parent is on the same mount.
  for (let path = queueRoot; ; path = dirname(path)) {
    try {
      return fileSystemOf(mountinfo, realpathSync(path));
    } catch {
      if (dirname(path) === path) return undefined;
    }
  }
}
