/*
 * Fuzz target: local delivery's aliases and mailbox paths
 * (core/delivery/local-address.ts). An input is an aliases file, unless it
 * starts with \x01 (no YAML file does): parseAliasesYaml throws only its own "aliases:" errors or the YAML library's,
 * and what it accepts is a table of single addresses. The others build a
 * small alias table, users and a recipient from a tight vocabulary (so loops,
 * extensions, role addresses and case folding meet often): the table survives
 * YAML, resolveLocal ends with a bounded number of user lookups, gives only
 * mailboxes that exist and forwards that are not local, and mailboxPath either
 * refuses a name or stays three levels under the root.
 */
import assert from 'node:assert/strict';
import { isAbsolute, join, relative } from 'node:path';
import { FuzzedDataProvider } from '@jazzer.js/core/dist/FuzzedDataProvider.js';
import { stringify, YAMLError } from 'yaml';
import { type AliasTable, mailboxPath, parseAliasesYaml, resolveLocal } from '../../core/delivery/local-address.js';
import { onlyDocumentedErrors } from './oracle.js';

const LOCALS = ['a', 'b', 'A', 'a-b', 'a+b-c', 'bob', 'Bob', 'postmaster', 'abuse', 'root', '..', '.x', 'x/y', 'x\0', '"q"', ''];
const DOMAINS = ['example.test', 'Example.TEST', 'remote.example', '..', 'x/y'];
const LOCAL_DOMAINS = new Set(['example.test', '..', 'x/y']);
const ROOT = '/var/qgate/mail';

const documented = (err: Error): boolean =>
  err.message.startsWith('aliases: ') ||
  err instanceof YAMLError ||
  // The YAML library's alias errors: unresolved, and its guard against expansion ("billion laughs").
  (err instanceof ReferenceError && /alias/i.test(err.message));

function checkTable(table: AliasTable): void {
  for (const [key, targets] of Object.entries(table)) {
    assert.ok(key !== '' && !key.startsWith('@') && !key.endsWith('@'), `key ${JSON.stringify(key)}`);
    assert.ok(Array.isArray(targets) && targets.length > 0, `targets of ${key}`);
    for (const t of targets)
      assert.ok(typeof t === 'string' && t !== '' && !/[\s,]/.test(t) && !/^[|/@]/.test(t) && !t.endsWith('@'), t);
  }
  assert.equal(Object.getPrototypeOf(table), Object.prototype);
}

function pickAddress(p: FuzzedDataProvider): string {
  const local = p.pickValue(LOCALS);
  return p.consumeBoolean() ? `${local}@${p.pickValue(DOMAINS)}` : local;
}

export function fuzz(data: Buffer): void {
  if (data[0] !== 0x01) {
    const parsed = onlyDocumentedErrors('parseAliasesYaml', () => parseAliasesYaml(data.toString('utf8')), documented);
    if (parsed.ok) checkTable(parsed.value);
    return;
  }
  const p = new FuzzedDataProvider(data.subarray(1));

  const entries: [string, string[]][] = [];
  for (let n = p.consumeIntegralInRange(0, 6); n > 0; n--) {
    const targets: string[] = [];
    for (let k = p.consumeIntegralInRange(1, 3); k > 0; k--) targets.push(pickAddress(p));
    entries.push([pickAddress(p), targets]);
  }
  const table: AliasTable = Object.fromEntries(entries);
  const read = onlyDocumentedErrors('parseAliasesYaml', () => parseAliasesYaml(stringify(table)), documented);
  if (read.ok) {
    checkTable(read.value);
    assert.deepEqual(read.value, table, 'the table written as YAML reads back the same');
  }

  const users = new Set<string>();
  for (let n = p.consumeIntegralInRange(0, 5); n > 0; n--)
    users.add(`${p.pickValue(LOCALS)}@${p.pickValue(DOMAINS)}`.toLowerCase());
  let lookups = 0;
  const userExists = (local: string, domain: string): boolean => {
    lookups++;
    return users.has(`${local}@${domain}`.toLowerCase());
  };
  const isLocal = (domain: string): boolean => LOCAL_DOMAINS.has(domain);
  const recipient = `${p.pickValue(LOCALS)}@${p.pickValue(DOMAINS)}`;
  const targets = resolveLocal(recipient, isLocal, {
    aliases: table,
    delimiters: p.pickValue(['', '-', '+-']),
    postmaster: p.pickValue(['postmaster', 'root@example.test', 'pm@remote.example', 'a']),
    userExists,
  });

  // Each address is expanded once: a lookup per reading of its local part, for the recipient,
  // each alias target and the postmaster, whatever the shape of the alias graph.
  const addresses = 2 + entries.reduce((n, [, t]) => n + t.length, 0);
  assert.ok(lookups <= addresses * 8, `${lookups} user lookups for ${addresses} addresses`);
  assert.ok(targets.length >= 1 && targets.length <= addresses, `${targets.length} targets`);
  for (const t of targets) {
    if (t.kind === 'mailbox') {
      assert.ok(users.has(`${t.local}@${t.domain}`.toLowerCase()) && isLocal(t.domain), `mailbox ${t.local}@${t.domain}`);
      const path = onlyDocumentedErrors(
        'mailboxPath',
        () => mailboxPath(ROOT, t.local, t.domain),
        (e) => e.message.startsWith('unsafe '),
      );
      if (path.ok) {
        const rel = relative(ROOT, path.value);
        assert.ok(!rel.startsWith('..') && !isAbsolute(rel), `${path.value} is outside ${ROOT}`);
        assert.equal(rel, join(t.domain.toLowerCase(), t.local, 'Maildir'));
        assert.equal(rel.split('/').length, 3, `${rel}: three levels`);
      }
    } else if (t.kind === 'forward') assert.ok(!isLocal(t.address.slice(t.address.lastIndexOf('@') + 1)), t.address);
    else assert.ok(t.kind === 'unknown' || t.kind === 'loop', t.kind);
  }
}
