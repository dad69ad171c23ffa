/*
 * Hashed queue directories (Postfix hash_queue_depth, qmail conf-split):
 * messages/ and state/ are split into one subdirectory per value of a queue
 * id's last character, which is random (queue.ts newQueueId), so 100,000
 * queued messages make directories of about 2,800 names, not one of 100,000
 * (every create, rename and lookup in a huge directory costs, and fsync of it
 * too). Pure: names only, no I/O.
 */

/** The characters a queue id is made of; one bucket each. */
export const BUCKETS: readonly string[] = [...'0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ'];

/** The subdirectory an entry with this id lives in. */
export function bucketOf(id: string): string {
  return id.charAt(id.length - 1);
}
