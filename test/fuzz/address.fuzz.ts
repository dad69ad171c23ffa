/*
 * Fuzz target: RFC 5321 paths (core/smtp/address.ts) and the mailbox form the
 * block lists compare (plugins/blacklist/list.ts mailbox()). The input, as
 * UTF-8, is parsed with every combination of options; parsing never throws,
 * an accepted address keeps RFC 5321's bounds in octets (local part 64, path
 * 256), has a lower-case domain, re-rendered parses to the same address, and
 * stays accepted when an option only allows more. A quoted local part that
 * needs no quotes names the same mailbox as the bare one.
 */
import assert from 'node:assert/strict';
import { isDomain, type PathOptions, parsePath } from '../../core/smtp/address.js';
import { mailbox } from '../../plugins/blacklist/list.js';
import { renderPath } from './oracle.js';

const OPTIONS: PathOptions[] = [];
for (const allowNull of [false, true])
  for (const allowPostmaster of [false, true])
    for (const utf8 of [false, true]) OPTIONS.push({ allowNull, allowPostmaster, utf8 });

const DOT_ATOM = /^[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~\u0080-\u{10FFFF}]+(?:\.[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~\u0080-\u{10FFFF}]+)*$/u;

const key = (o: PathOptions): string => `${o.allowNull ? 'N' : '-'}${o.allowPostmaster ? 'P' : '-'}${o.utf8 ? 'U' : '-'}`;

export function fuzz(data: Buffer): void {
  const text = data.toString('utf8');
  isDomain(text);
  isDomain(text, true);
  const results = new Map(OPTIONS.map((o) => [key(o), parsePath(text, o)]));
  for (const opts of OPTIONS) {
    const r = results.get(key(opts))!;
    const label = `options ${key(opts)}`;
    if (!r.ok) {
      assert.ok(r.error === 'syntax' || r.error === 'utf8', label);
      if (r.error === 'utf8') assert.ok(!opts.utf8 && /[^\x00-\x7f]/.test(text), `${label}: utf8 error`);
      continue;
    }
    assert.ok(r.rest === '' || r.rest.startsWith(' '), `${label}: rest ${JSON.stringify(r.rest)}`);
    // Allowing more never refuses what was accepted, nor changes it.
    for (const wider of OPTIONS) {
      if ((opts.allowNull && !wider.allowNull) || (opts.allowPostmaster && !wider.allowPostmaster) || (opts.utf8 && !wider.utf8))
        continue;
      assert.deepEqual(results.get(key(wider)), r, `${label} accepted, ${key(wider)} must agree`);
    }
    const a = r.address;
    if (a === null) {
      assert.ok(opts.allowNull, `${label}: <> accepted`);
      continue;
    }
    assert.equal(a.domain, a.domain.toLowerCase(), `${label}: domain lower-cased`);
    assert.equal(a.quoted, a.local.startsWith('"'));
    if (a.domain === '') {
      assert.ok(opts.allowPostmaster && a.local.toLowerCase() === 'postmaster', `${label}: an address without a domain`);
      assert.equal(a.address, a.local);
    } else assert.equal(a.address, `${a.local}@${a.domain}`);
    if (!opts.utf8) assert.match(a.address, /^[\x00-\x7f]+$/, `${label}: non-ASCII without SMTPUTF8`);
    // RFC 5321 4.5.3.1.1 and 4.5.3.1.3 count octets (RFC 6531 3.3 keeps them for UTF-8 addresses).
    if (!a.quoted) assert.ok(Buffer.byteLength(a.local) <= 64, `${label}: local part of ${Buffer.byteLength(a.local)} octets`);
    const rendered = renderPath(a);
    assert.ok(Buffer.byteLength(rendered) <= 258, `${label}: path of ${Buffer.byteLength(rendered)} octets`);
    assert.deepEqual(parsePath(rendered, opts), { ...r, rest: '' }, `${label}: ${rendered} re-rendered`);

    // Block lists compare mailbox(): "<\"spam\"@x>" must not slip past an entry spam@x.
    const box = mailbox(a);
    const bare = box.slice(0, box.lastIndexOf('@'));
    if (a.quoted && a.domain !== '' && DOT_ATOM.test(bare) && Buffer.byteLength(bare) <= 64) {
      const plain = parsePath(`<${box}>`, opts);
      assert.ok(plain.ok && plain.address, `${label}: ${box} (from ${a.address}) must parse`);
      assert.equal(mailbox(plain.address), box, `${label}: same mailbox`);
    }
  }
}
