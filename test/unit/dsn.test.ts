/*
 * Delivery status notifications: every rendered bounce is parsed back with a
 * real MIME parser (mailparser) and its report read field by field; the raw
 * bytes are checked for CRLF, line length and 7-bit headers; one golden file.
 * Status, Diagnostic-Code and Remote-MTA come from the fields of each reply.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type Attachment, type ParsedMail, simpleParser } from 'mailparser';
import { type DsnInput, type DsnRecipient, deliveryStatus, renderDsn } from '../../core/delivery/dsn.js';
import { rfc5322Date } from '../../core/message/received.js';
import { deliveryReply, type Reply, replyLine } from '../../core/model/index.js';

// Dates are written in the local time zone; the golden file is UTC.
process.env.TZ = 'UTC';

const GOLDEN = fileURLToPath(new URL('../../../test/fixtures/dsn/simple.eml', import.meta.url));

const originalHeaders =
  'Received: from client.example ([192.0.2.7])\r\n' +
  '\tby mx.example.net (qgate) with ESMTP id 0MWT707BG0038AI\r\n' +
  '\tfor <user@example.com>; Mon, 23 Nov 2026 10:00:00 +0000\r\n' +
  'From: Sender <sender@example.org>\r\n' +
  'To: <user@example.com>\r\n' +
  'Subject: Quarterly figures\r\n' +
  'Message-ID: <original.1@example.org>\r\n' +
  '\r\n';
const original = Buffer.from(`${originalHeaders}Hello,\r\n\r\nthe figures are attached.\r\n`);

const userUnknown: DsnRecipient = {
  recipient: 'user@example.com',
  action: 'failed',
  reply: deliveryReply(
    550,
    '5.1.1',
    '<user@example.com>: Recipient address rejected: User unknown in virtual mailbox table',
    'mx.example.com',
  ),
  lastAttempt: new Date(Date.UTC(2026, 10, 23, 10, 0, 5)),
};
const greylisted: DsnRecipient = {
  recipient: 'other@example.com',
  action: 'delayed',
  reply: deliveryReply(451, '4.7.1', 'Greylisted, try again later', 'mx.example.com'),
  lastAttempt: new Date(Date.UTC(2026, 10, 23, 14, 0, 0)),
  willRetryUntil: new Date(Date.UTC(2026, 10, 30, 10, 0, 0)),
};

const base: DsnInput = {
  reportingMta: 'mx.example.net',
  from: 'MAILER-DAEMON@mx.example.net',
  to: 'sender@example.org',
  queueId: '0MWT707BG0038AI',
  arrivalDate: new Date(Date.UTC(2026, 10, 23, 10, 0, 0)),
  date: new Date(Date.UTC(2026, 10, 23, 14, 0, 1)),
  messageId: '<0MWT707BG0038AI.bounce@mx.example.net>',
  boundary: '0MWT707BG0038AI.1795442401/mx.example.net',
  recipients: [userUnknown],
  original,
  maxBytes: 50000,
};

interface Rendered {
  readonly raw: Buffer;
  readonly mail: ParsedMail;
  /** The message/delivery-status part: per-message fields, then one map per recipient. */
  readonly report: Map<string, string>[];
  readonly part3: Attachment;
}

/** RFC 3464 field groups: blank-line separated, unfolded, names lower-cased. */
function fieldGroups(text: string): Map<string, string>[] {
  return text
    .replace(/(\r\n)+$/, '')
    .split('\r\n\r\n')
    .map((group) => {
      const fields = new Map<string, string>();
      for (const line of group.replace(/\r\n(?=[ \t])/g, '').split('\r\n')) {
        const colon = line.indexOf(':');
        fields.set(line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim());
      }
      return fields;
    });
}

function rawLines(raw: Buffer): Buffer[] {
  const lines: Buffer[] = [];
  for (let start = 0; start < raw.length; ) {
    const end = raw.indexOf('\r\n', start);
    lines.push(raw.subarray(start, end < 0 ? raw.length : end));
    start = end < 0 ? raw.length : end + 2;
  }
  return lines;
}

/** The invariants every notification keeps, checked on the bytes before any parser sees them. */
function checkRaw(raw: Buffer): void {
  for (let i = 0; i < raw.length; i++) {
    if (raw[i] === 0x0a) assert.equal(raw[i - 1], 0x0d, `bare LF at octet ${i}`);
    if (raw[i] === 0x0d) assert.equal(raw[i + 1], 0x0a, `bare CR at octet ${i}`);
  }
  assert.ok(raw.subarray(-2).equals(Buffer.from('\r\n')), 'ends with CRLF');
  for (const line of rawLines(raw)) assert.ok(line.length <= 998, `line of ${line.length} octets`);
  const head = raw.subarray(0, raw.indexOf('\r\n\r\n'));
  assert.ok(
    head.every((b) => b < 0x80),
    'top-level header section is 7-bit',
  );
}

async function render(input: DsnInput): Promise<Rendered> {
  const raw = renderDsn(input);
  checkRaw(raw);
  const mail = await simpleParser(raw, { keepDeliveryStatus: true });
  const status = mail.attachments.find((a) => a.contentType === 'message/delivery-status');
  assert.ok(status, 'a message/delivery-status part');
  assert.ok(
    status.content.every((b) => b < 0x80),
    'the report is 7-bit',
  );
  return { raw, mail, report: fieldGroups(status.content.toString('latin1')), part3: mail.attachments.at(-1)! };
}

function header(mail: ParsedMail, name: string): string {
  const line = mail.headerLines.find((h) => h.key === name);
  assert.ok(line, `header ${name}`);
  return line.line.slice(line.line.indexOf(':') + 1).trim();
}

/** The text part with its line breaks undone, for phrases the wrapping may split. */
const flat = (text: string | undefined): string => (text ?? '').replace(/\s+/g, ' ');
const headersOf = (message: Buffer): Buffer => message.subarray(0, message.indexOf('\r\n\r\n') + 2);
const bigBody = Buffer.from(`${originalHeaders}${'All work and no play makes a dull message.\r\n'.repeat(200)}`);
const manyHeaders = Buffer.from(
  `${Array.from({ length: 40 }, (_, i) => `X-Trace-${i}: hop ${i} of a long journey\r\n`).join('')}\r\nbody\r\n`,
);
const eightBit = Buffer.concat([
  Buffer.from('From: =?utf-8?q?J=C3=B6rg?= <joerg@example.org>\r\nSubject: Gr\xfc\xdfe\r\n', 'latin1'),
  Buffer.from('Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nGrüße aus Köln\r\n', 'utf8'),
]);
const longWords = Array.from({ length: 400 }, (_, i) => `word${i}`).join(' ');
const hugeToken = 'x'.repeat(3000);

describe('renderDsn', () => {
  const cases: {
    why: string;
    input: DsnInput;
    subject: string;
    part3: 'message/rfc822' | 'text/rfc822-headers';
    /** What part 3 holds, octet for octet. */
    returned: Buffer;
    check?: (r: Rendered) => void;
  }[] = [
    {
      why: 'one failed recipient: the report names it, the original comes back whole',
      input: base,
      subject: 'Undelivered Mail Returned to Sender',
      part3: 'message/rfc822',
      returned: original,
      check: ({ report, mail }) => {
        assert.deepEqual(
          report[0],
          new Map([
            ['reporting-mta', 'dns; mx.example.net'],
            ['x-qgate-queue-id', '0MWT707BG0038AI'],
            ['arrival-date', rfc5322Date(base.arrivalDate)],
          ]),
        );
        assert.deepEqual(
          report[1],
          new Map([
            ['final-recipient', 'rfc822; user@example.com'],
            ['action', 'failed'],
            ['status', '5.1.1'],
            ['remote-mta', 'dns; mx.example.com'],
            ['diagnostic-code', `smtp; ${replyLine(userUnknown.reply)}`],
            ['last-attempt-date', rfc5322Date(userUnknown.lastAttempt!)],
          ]),
        );
        assert.match(flat(mail.text), /This is the mail system at host mx\.example\.net\./);
        assert.match(flat(mail.text), /<user@example\.com>: host mx\.example\.com said: 550 5\.1\.1/);
        assert.equal(header(mail, 'auto-submitted'), 'auto-replied');
        assert.equal(header(mail, 'message-id'), base.messageId);
      },
    },
    {
      why: 'an original of exactly maxBytes still fits',
      input: { ...base, maxBytes: original.length },
      subject: 'Undelivered Mail Returned to Sender',
      part3: 'message/rfc822',
      returned: original,
      check: ({ mail }) => assert.doesNotMatch(flat(mail.text), /larger than/),
    },
    {
      why: 'an original over maxBytes comes back cut at a line end within maxBytes (bouncemaxbytes), and the text says so',
      input: { ...base, original: bigBody, maxBytes: 1000 },
      subject: 'Undelivered Mail Returned to Sender',
      part3: 'message/rfc822',
      returned: bigBody.subarray(0, bigBody.lastIndexOf('\r\n', 998) + 2),
      check: ({ mail, raw, part3 }) => {
        assert.ok(part3.content.length <= 1000 && part3.content.length > 900, `${part3.content.length} octets`);
        assert.match(
          flat(mail.text),
          new RegExp(`larger than 1000 octets, so it is returned cut to its first ${part3.content.length} octets\\.`),
        );
        assert.ok(raw.includes('All work and no play'), 'the start of the body is there');
      },
    },
    {
      why: 'a header section over maxBytes is cut at a line boundary within maxBytes',
      input: { ...base, original: manyHeaders, maxBytes: 300 },
      subject: 'Undelivered Mail Returned to Sender',
      part3: 'text/rfc822-headers',
      returned: manyHeaders.subarray(0, manyHeaders.lastIndexOf('\r\n', 298) + 2),
      check: ({ part3, mail }) => {
        assert.ok(part3.content.length <= 300 && part3.content.length > 250, `${part3.content.length} octets`);
        assert.match(
          flat(mail.text),
          new RegExp(`its header section is returned cut to its first ${part3.content.length} octets\\.`),
        );
      },
    },
    {
      // Found by fuzzing: with no line end within maxBytes the cut kept the first octet of the line.
      why: 'a first header line longer than maxBytes: nothing of it comes back, not even one octet',
      input: { ...base, original: Buffer.from(`Subject: ${'x'.repeat(400)}\r\n\r\nbody\r\n`), maxBytes: 300 },
      subject: 'Undelivered Mail Returned to Sender',
      part3: 'text/rfc822-headers',
      returned: Buffer.alloc(0),
      check: ({ mail }) => assert.match(flat(mail.text), /its header section is returned cut to its first 0 octets\./),
    },
    {
      why: 'headersOnly returns the header section without a size note',
      input: { ...base, headersOnly: true },
      subject: 'Undelivered Mail Returned to Sender',
      part3: 'text/rfc822-headers',
      returned: headersOf(original),
      check: ({ mail, raw }) => {
        assert.doesNotMatch(flat(mail.text), /larger than/);
        assert.match(flat(mail.text), /headers of your message are attached/);
        assert.ok(raw.includes('Content-Description: Undelivered Message Headers\r\n'));
      },
    },
    {
      why: 'one failed, one delayed: a failure subject, a group each, Will-Retry-Until only for the delayed',
      input: { ...base, recipients: [userUnknown, greylisted] },
      subject: 'Undelivered Mail Returned to Sender',
      part3: 'message/rfc822',
      returned: original,
      check: ({ report, mail }) => {
        assert.equal(report[1]!.get('action'), 'failed');
        assert.equal(report[1]!.has('will-retry-until'), false);
        assert.deepEqual(
          report[2],
          new Map([
            ['final-recipient', 'rfc822; other@example.com'],
            ['action', 'delayed'],
            ['status', '4.7.1'],
            ['remote-mta', 'dns; mx.example.com'],
            ['diagnostic-code', 'smtp; 451 4.7.1 Greylisted, try again later'],
            ['last-attempt-date', rfc5322Date(greylisted.lastAttempt!)],
            ['will-retry-until', rfc5322Date(greylisted.willRetryUntil!)],
          ]),
        );
        const text = flat(mail.text);
        assert.ok(text.indexOf('<user@example.com>') < text.indexOf('is delayed and is still being retried'));
        assert.ok(text.indexOf('is delayed and is still being retried') < text.indexOf('<other@example.com>'));
      },
    },
    {
      why: 'only delayed recipients: a warning, with how long and until when',
      input: { ...base, recipients: [greylisted], headersOnly: true },
      subject: 'Delayed Mail (still being retried)',
      part3: 'text/rfc822-headers',
      returned: headersOf(original),
      check: ({ mail }) => {
        const text = flat(mail.text);
        assert.match(text, /warning only/);
        assert.match(text, /could not be delivered for 4 hour\(s\)/);
        assert.match(text, /retried until Mon, 30 Nov 2026 10:00:00 \+0000/);
        assert.doesNotMatch(text, /I'm sorry/);
      },
    },
    {
      why: 'an 8-bit original goes as is, marked 8bit on its part and on the multipart',
      input: { ...base, original: eightBit },
      subject: 'Undelivered Mail Returned to Sender',
      part3: 'message/rfc822',
      returned: eightBit,
      check: ({ raw, mail }) => {
        assert.ok(raw.includes(eightBit), 'original octets unchanged');
        assert.equal(header(mail, 'content-transfer-encoding'), '8bit');
        assert.ok(raw.includes('Content-Type: message/rfc822\r\nContent-Transfer-Encoding: 8bit\r\n\r\n'));
      },
    },
    {
      why: 'a 7-bit bounce declares no transfer encoding',
      input: base,
      subject: 'Undelivered Mail Returned to Sender',
      part3: 'message/rfc822',
      returned: original,
      check: ({ raw }) => assert.ok(!raw.includes('Content-Transfer-Encoding')),
    },
    {
      why: 'a long diagnostic is folded at its spaces and unfolds to the reply',
      input: { ...base, recipients: [{ ...userUnknown, reply: deliveryReply(550, '5.1.1', longWords, 'mx.example.com') }] },
      subject: 'Undelivered Mail Returned to Sender',
      part3: 'message/rfc822',
      returned: original,
      check: ({ report, raw }) => {
        assert.equal(report[1]!.get('diagnostic-code'), `smtp; 550 5.1.1 ${longWords}`);
        for (const line of rawLines(raw)) assert.ok(line.length <= 78, `line of ${line.length} octets`);
      },
    },
    {
      why: 'a diagnostic with a 3000-octet word is broken into lines under 998 octets',
      input: { ...base, recipients: [{ ...userUnknown, reply: deliveryReply(550, '5.1.1', hugeToken, 'mx.example.com') }] },
      subject: 'Undelivered Mail Returned to Sender',
      part3: 'message/rfc822',
      returned: original,
      check: ({ report, mail }) => {
        assert.equal(report[1]!.get('diagnostic-code')!.replace(/ /g, ''), `smtp;5505.1.1${hugeToken}`);
        assert.ok(flat(mail.text).replace(/\s/g, '').includes(hugeToken));
      },
    },
    {
      why: 'a diagnostic with CR LF cannot add report fields',
      input: {
        ...base,
        recipients: [{ ...userUnknown, reply: deliveryReply(550, '5.1.1', 'no\r\nAction: delivered\r\n\r\nStatus: 2.0.0') }],
      },
      subject: 'Undelivered Mail Returned to Sender',
      part3: 'message/rfc822',
      returned: original,
      check: ({ report }) => {
        assert.equal(report.length, 2);
        assert.equal(report[1]!.get('action'), 'failed');
        assert.equal(report[1]!.get('status'), '5.1.1');
        assert.equal(report[1]!.get('diagnostic-code'), 'smtp; 550 5.1.1 no Action: delivered Status: 2.0.0');
      },
    },
    {
      why: 'a non-ASCII recipient is reported in RFC 6533 utf-8 form; the text part becomes UTF-8',
      input: { ...base, recipients: [{ ...userUnknown, recipient: 'jörg+tag@example.com' }] },
      subject: 'Undelivered Mail Returned to Sender',
      part3: 'message/rfc822',
      returned: original,
      check: ({ report, mail, raw }) => {
        assert.equal(report[1]!.get('final-recipient'), 'utf-8; j\\x{F6}rg\\x{2B}tag@example.com');
        assert.match(flat(mail.text), /<jörg\+tag@example\.com>: host mx\.example\.com said/);
        assert.ok(raw.includes('Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n'));
      },
    },
    {
      why: 'a diagnosis of our own (no host): no Remote-MTA, and the text does not say a host said it',
      input: {
        ...base,
        recipients: [{ recipient: 'user@example.com', action: 'failed', reply: deliveryReply(451, '4.4.7', 'Message expired') }],
      },
      subject: 'Undelivered Mail Returned to Sender',
      part3: 'message/rfc822',
      returned: original,
      check: ({ report, mail }) => {
        assert.deepEqual([...report[1]!.keys()], ['final-recipient', 'action', 'status', 'diagnostic-code']);
        assert.equal(report[1]!.get('status'), '4.4.7', 'an expired recipient keeps its temporary status, as in Postfix');
        assert.equal(report[1]!.get('diagnostic-code'), 'smtp; 451 4.4.7 Message expired');
        assert.match(flat(mail.text), /<user@example\.com>: 451 4\.4\.7 Message expired/);
      },
    },
    {
      why: 'a multi-line reply is reported on one line with each line code, as Postfix does',
      input: {
        ...base,
        recipients: [
          { ...userUnknown, reply: deliveryReply(550, '5.7.1', ['policy violation', 'see https://x.test/'], 'mx.x.test') },
        ],
      },
      subject: 'Undelivered Mail Returned to Sender',
      part3: 'message/rfc822',
      returned: original,
      check: ({ report }) => {
        assert.equal(report[1]!.get('status'), '5.7.1');
        assert.equal(report[1]!.get('diagnostic-code'), 'smtp; 550-5.7.1 policy violation 550 5.7.1 see https://x.test/');
        assert.equal(report[1]!.get('remote-mta'), 'dns; mx.x.test');
      },
    },
    {
      why: 'an original with bare LF line ends comes back with CRLF',
      input: { ...base, original: Buffer.from('From: a@example.org\nSubject: bare\n\nline one\nline two\n') },
      subject: 'Undelivered Mail Returned to Sender',
      part3: 'message/rfc822',
      returned: Buffer.from('From: a@example.org\r\nSubject: bare\r\n\r\nline one\r\nline two\r\n'),
    },
  ];

  for (const c of cases) {
    it(c.why, async () => {
      const r = await render(c.input);
      const contentType = r.mail.headers.get('content-type');
      assert.deepEqual(contentType, {
        value: 'multipart/report',
        params: { 'report-type': 'delivery-status', boundary: c.input.boundary },
      });
      assert.equal(r.mail.subject, c.subject);
      assert.equal(header(r.mail, 'to'), `<${c.input.to}>`);
      assert.match(header(r.mail, 'from'), new RegExp(`<${c.input.from}>$`));
      // Part 1 is the text; parts 2 and 3 are the report and the original, in this order.
      assert.ok(r.raw.indexOf('Content-Type: text/plain') < r.raw.indexOf('Content-Type: message/delivery-status'));
      assert.ok(flat(r.mail.text).length > 0);
      assert.deepEqual(
        r.mail.attachments.map((a) => a.contentType),
        ['message/delivery-status', c.part3],
      );
      assert.equal(r.report.length, 1 + c.input.recipients.length);
      for (const [i, recipient] of c.input.recipients.entries()) {
        assert.equal(r.report[i + 1]!.get('action'), recipient.action);
        assert.equal(r.report[i + 1]!.get('status'), deliveryStatus(recipient.reply));
      }
      assert.ok(r.part3.content.equals(c.returned), 'part 3 holds the original (or its headers) octet for octet');
      c.check?.(r);
    });
  }

  const errors: { why: string; input: DsnInput; message: RegExp }[] = [
    { why: 'a report needs a recipient', input: { ...base, recipients: [] }, message: /no recipients/ },
    { why: 'never to the null sender', input: { ...base, to: '' }, message: /null sender/ },
    { why: 'boundary must be RFC 2046 syntax', input: { ...base, boundary: 'has"quote' }, message: /RFC 2046/ },
    {
      why: 'the boundary must not occur in the returned original',
      input: { ...base, original: Buffer.from(`Subject: x\r\n\r\n--${base.boundary}\r\n`) },
      message: /occurs in the returned original/,
    },
    { why: 'dates must be valid', input: { ...base, date: new Date(Number.NaN) }, message: /not a valid date/ },
    { why: 'maxBytes must be a count', input: { ...base, maxBytes: -1 }, message: /maxBytes/ },
  ];
  for (const c of errors)
    it(`refuses: ${c.why}`, () => assert.throws(() => renderDsn(c.input), { name: 'RangeError', message: c.message }));

  // Regenerate after a deliberate change of layout or wording:
  //   npx tsc -p . && DSN_WRITE_GOLDEN=1 node --test dist/test/unit/dsn.test.js
  // then review the diff of test/fixtures/dsn/simple.eml.
  it('matches the golden file byte for byte', () => {
    const raw = renderDsn({ ...base, recipients: [userUnknown, greylisted] });
    if (process.env.DSN_WRITE_GOLDEN === '1') writeFileSync(GOLDEN, raw);
    assert.equal(raw.toString('latin1'), readFileSync(GOLDEN).toString('latin1'));
  });
});

describe('deliveryStatus', () => {
  const cases: { why: string; reply: Reply; expect: string }[] = [
    { why: 'the enhanced code of the reply', reply: deliveryReply(550, '5.1.1', '<x@y>: User unknown'), expect: '5.1.1' },
    { why: 'no enhanced code: the reply code class', reply: deliveryReply(550, undefined, 'no such user'), expect: '5.0.0' },
    { why: 'a temporary reply without enhanced code', reply: deliveryReply(450, undefined, 'mailbox busy'), expect: '4.0.0' },
    { why: 'an expired recipient keeps its temporary code', reply: deliveryReply(451, '4.7.1', 'Greylisted'), expect: '4.7.1' },
    { why: 'the reply code decides a disagreeing class', reply: deliveryReply(554, '4.4.7', 'odd server'), expect: '5.4.7' },
    { why: 'leading zeros are not part of the code', reply: deliveryReply(550, '5.01.001', 'odd'), expect: '5.1.1' },
    { why: 'an enhanced code that is none is not used', reply: deliveryReply(550, '5.1', 'odd'), expect: '5.0.0' },
    {
      why: 'a reply that is no failure is reported as a permanent one',
      reply: deliveryReply(250, '2.0.0', 'ok'),
      expect: '5.0.0',
    },
  ];
  for (const c of cases) it(c.why, () => assert.equal(deliveryStatus(c.reply), c.expect));
});
