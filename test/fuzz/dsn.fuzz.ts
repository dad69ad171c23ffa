/*
 * Fuzz target: delivery status notifications (core/delivery/dsn.ts). The
 * remote's reply, host names and the returned original are foreign input;
 * addresses come from the path parser, as in the gateway. A reply read by
 * parseReply gives its line back, and deliveryStatus always gives an RFC 3463
 * code of the reply's class. renderDsn throws only its RangeError, and
 * otherwise gives what its header promises: CRLF line ends only, lines of at
 * most 998 octets outside the returned original, no white-space-only folded
 * lines, a 7-bit report whose fields read back (through the header parser) as
 * the recipients, actions, statuses, remote hosts and replies given, and the
 * original returned whole or cut at a line end within maxBytes.
 */
import assert from 'node:assert/strict';
import { FuzzedDataProvider } from '@jazzer.js/core/dist/FuzzedDataProvider.js';
import { type DsnInput, type DsnRecipient, deliveryStatus, renderDsn } from '../../core/delivery/dsn.js';
import { parseHeaderSection } from '../../core/message/headers.js';
import { type DeliveryReply, deliveryReply, parseReply, replyLine } from '../../core/model/index.js';
import { parsePath } from '../../core/smtp/address.js';
import { onlyDocumentedErrors } from './oracle.js';

const BOUNDARY = /^[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]$/;
const ARRIVAL = Date.UTC(2026, 0, 5, 10, 0, 0);

function text(p: FuzzedDataProvider, max: number): string {
  return p.consumeString(p.consumeIntegralInRange(0, max));
}

/** An envelope address as the gateway holds it: parsed from the fuzzer's text, or a fixed one. */
function address(p: FuzzedDataProvider, fallback: string): string {
  const parsed = parsePath(`<${text(p, 80)}>`, { utf8: true });
  return parsed.ok && parsed.address ? parsed.address.address : fallback;
}

/** RFC 6533 utf-8-addr-xtext back to the address. */
function unescapeAddress(field: string): string {
  if (field.startsWith('rfc822; ')) return field.slice(8);
  assert.ok(field.startsWith('utf-8; '), field);
  return field.slice(7).replace(/\\x\{([0-9A-F]+)\}/g, (_, hex: string) => String.fromCodePoint(Number.parseInt(hex, 16)));
}

/** What a foreign text becomes in the report: one line of printable ASCII. */
const printable = (s: string): string =>
  s
    .replace(/\s+/g, ' ')
    .replace(/[^\x20-\x7e]/g, '?')
    .trim();

function crlf(bytes: Buffer): Buffer {
  return Buffer.from(bytes.toString('latin1').replace(/\r\n|\r|\n/g, '\r\n'), 'latin1');
}

/** A server's reply line as the SMTP client hands it on: read into fields, it reads back the same. */
function checkParsed(line: string): void {
  const reply = parseReply(line);
  if (reply === undefined) {
    assert.doesNotMatch(line, /^[2-5]\d\d(?:[ -]|$)/, 'a reply code was not read');
    return;
  }
  assert.equal(reply.code, Number(line.slice(0, 3)));
  if (!/[\r\n]/.test(line) && /^\d{3}( \S+)*$/.test(line))
    assert.equal(replyLine(reply), line, 'a single-spaced line reads back');
}

/** The status of a reply: always an RFC 3463 code, of the reply code's class (5 for anything not 4xx). */
function checkStatus(reply: DeliveryReply): string {
  const status = deliveryStatus(reply);
  assert.match(status, /^[45]\.\d{1,3}\.\d{1,3}$/, `status ${status}`);
  assert.equal(status[0], reply.code >= 400 && reply.code < 500 ? '4' : '5', `class of ${JSON.stringify(reply)}`);
  return status;
}

function fuzzedReply(p: FuzzedDataProvider): DeliveryReply {
  const code = p.consumeIntegralInRange(200, 599);
  const enhanced = p.consumeBoolean() ? text(p, 12) : undefined;
  const lines = p.consumeBoolean() ? text(p, 1500) : [text(p, 300), text(p, 300)];
  return deliveryReply(code, enhanced, lines, p.consumeBoolean() ? text(p, 80) : undefined);
}

export function fuzz(data: Buffer): void {
  const p = new FuzzedDataProvider(data);
  checkParsed(text(p, 300));

  const recipients: DsnRecipient[] = [];
  for (let n = p.consumeIntegralInRange(1, 3); n > 0; n--) {
    const action = p.consumeBoolean() ? 'failed' : 'delayed';
    const reply = fuzzedReply(p);
    checkStatus(reply);
    recipients.push({
      recipient: address(p, 'user@example.org'),
      action,
      reply,
      lastAttempt: new Date(ARRIVAL + 3_600_000),
      ...(action === 'delayed' ? { willRetryUntil: new Date(ARRIVAL + 5 * 86_400_000) } : {}),
    });
  }
  const input: DsnInput = {
    reportingMta: text(p, 80),
    from: 'MAILER-DAEMON@mx.example.net',
    to: address(p, 'sender@example.com'),
    queueId: text(p, 30),
    arrivalDate: new Date(ARRIVAL),
    date: new Date(ARRIVAL + p.consumeIntegralInRange(0, 10 * 86_400_000)),
    messageId: '<20260105100000.ABC@mx.example.net>',
    boundary: p.consumeBoolean() ? 'ABC123/mx.example.net' : text(p, 72),
    recipients,
    maxBytes: p.consumeIntegralInRange(0, 4096),
    headersOnly: p.consumeBoolean(),
    original: Buffer.from(p.consumeRemainingAsBytes()),
  };
  const rendered = onlyDocumentedErrors(
    'renderDsn',
    () => renderDsn(input),
    (e) => e instanceof RangeError,
  );
  if (!rendered.ok) {
    const delimiter = `--${input.boundary}`;
    const original = crlf(input.original).toString('latin1');
    assert.ok(
      !BOUNDARY.test(input.boundary) || original.startsWith(delimiter) || original.includes(`\r\n${delimiter}`),
      `renderDsn refused: ${rendered.error.message}`,
    );
    return;
  }
  const out = rendered.value.toString('latin1');
  assert.ok(!/\r(?!\n)|(?<!\r)\n/.test(out), 'only CRLF line ends');

  // The parts: head, notification, report, returned original; the original cannot hold the delimiter.
  const delimiter = `--${input.boundary}`;
  const close = `\r\n${delimiter}--\r\n`;
  assert.ok(out.endsWith(close), 'closing delimiter');
  const starts: number[] = [];
  for (let at = out.indexOf(`\n${delimiter}\r\n`); at >= 0; at = out.indexOf(`\n${delimiter}\r\n`, at + 1)) starts.push(at + 1);
  assert.equal(starts.length, 3, 'three body parts');
  const third = out.indexOf('\r\n\r\n', starts[2]!) + 4;
  const content = Buffer.from(out.slice(third, out.length - close.length), 'latin1');

  const whole = crlf(input.original);
  if (!content.equals(whole)) {
    assert.ok(whole.subarray(0, content.length).equals(content), 'the returned original is a prefix of the original');
    assert.ok(content.length <= input.maxBytes, `cut original of ${content.length} octets, maxBytes ${input.maxBytes}`);
    assert.ok(content.length === 0 || content.subarray(-2).toString() === '\r\n', 'cut at a line end');
  } else {
    assert.ok(!input.headersOnly || whole.indexOf('\r\n\r\n') < 0, 'headers only, yet the body came back');
  }

  const outside = out.slice(0, third) + close;
  for (const line of outside.split('\r\n')) {
    assert.ok(Buffer.byteLength(line, 'latin1') <= 998, `a line of ${line.length} octets`);
    assert.ok(!/^[ \t]+$/.test(line), 'a folded line of white space only (RFC 5322 3.2.2)');
  }

  const report = out.slice(starts[1]!, starts[2]!);
  assert.ok(!/[^\x00-\x7f]/.test(report), 'the report is 7-bit');
  const groups = report
    .slice(report.indexOf('\r\n\r\n') + 4)
    .split('\r\n\r\n')
    .filter((g) => g.trim() !== '');
  assert.equal(groups.length, 1 + recipients.length, 'one group per recipient');
  const fields = (group: string): Map<string, string> => new Map(parseHeaderSection(group).map((f) => [f.name, f.value]));
  assert.equal(
    fields(groups[0]!).get('Reporting-MTA')?.replace(/ /g, ''),
    `dns;${printable(input.reportingMta)}`.replace(/ /g, ''),
  );
  recipients.forEach((r, i) => {
    const got = fields(groups[i + 1]!);
    assert.equal(unescapeAddress(got.get('Final-Recipient') ?? ''), r.recipient, 'Final-Recipient');
    assert.equal(got.get('Action'), r.action);
    assert.equal(got.get('Status'), deliveryStatus(r.reply));
    // Unfolding gives the text back, but for a space where a word longer than a line had to be cut.
    const said = printable(replyLine(r.reply));
    assert.equal(got.get('Diagnostic-Code')?.replace(/ /g, ''), `smtp;${said}`.replace(/ /g, ''));
    const host = printable(r.reply.host ?? '');
    if (host !== '') assert.equal(got.get('Remote-MTA')?.replace(/ /g, ''), `dns;${host}`.replace(/ /g, ''));
    else assert.equal(got.has('Remote-MTA'), false);
  });
}
