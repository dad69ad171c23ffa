import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { AliasTable } from '../../core/delivery/local-address.js';
import {
  badMailboxName,
  localVerdict,
  lookupFailure,
  type MailboxAnswer,
  mailboxNameProblem,
  type ResolutionRules,
  recipientResult,
  resolveWithAnswers,
  type TargetResult,
  unknownLocalUser,
  unknownRelayUser,
  unknownTarget,
  unquoteLocalPart,
} from '../../core/delivery/recipient-rules.js';
import { deliveryReply, replyLine } from '../../core/model/index.js';

describe('unquoteLocalPart', () => {
  const rows: [string, string, string][] = [
    ['alice', 'alice', 'a dot-atom is unchanged'],
    ['"alice"', 'alice', 'quotes go'],
    ['"a b"', 'a b', 'a space stays'],
    ['"a\\/b"', 'a/b', 'a quoted pair is its character'],
    ['"a\\\\b"', 'a\\b', 'an escaped backslash is one backslash'],
    ['""', '', 'the empty quoted string is empty'],
    ['"', '"', 'a lone quote is not a quoted string'],
    ['a"b"', 'a"b"', 'quotes inside are not a quoted string'],
  ];
  for (const [local, expected, why] of rows) {
    test(`${why}: ${local}`, () => assert.equal(unquoteLocalPart(local), expected));
  }
});

describe('mailboxNameProblem', () => {
  const rows: { local: string; domain?: string; unsafe: boolean; why: string }[] = [
    { local: 'alice', unsafe: false, why: 'an ordinary name' },
    { local: 'alice.smith', unsafe: false, why: 'a dot inside' },
    { local: 'alice-news', unsafe: false, why: 'an extension' },
    { local: '"alice smith"', unsafe: false, why: 'a quoted space' },
    { local: '"a.b"', unsafe: false, why: 'a quoted dot inside' },
    { local: 'a/b', unsafe: true, why: 'a slash leaves the user directory' },
    { local: '"a/b"', unsafe: true, why: 'a quoted slash' },
    { local: '"a\\/b"', unsafe: true, why: 'a slash as a quoted pair' },
    { local: '".."', unsafe: true, why: 'the parent directory' },
    { local: '"."', unsafe: true, why: 'the domain directory itself' },
    { local: '".hidden"', unsafe: true, why: 'a hidden directory' },
    { local: '"..\\/..\\/etc"', unsafe: true, why: 'a way out of the root' },
    { local: '""', unsafe: true, why: 'empty after unquoting' },
    { local: '..', unsafe: true, why: 'unquoted dots (the parser refuses them first)' },
    { local: '.hidden', unsafe: true, why: 'unquoted leading dot' },
    { local: 'a\0b', unsafe: true, why: 'NUL' },
    { local: 'alice', domain: '[x:a/b]', unsafe: true, why: 'a domain with a slash' },
  ];
  for (const row of rows) {
    test(`${row.why}: ${JSON.stringify(row.local)}`, () => {
      const problem = mailboxNameProblem(row.local, row.domain ?? 'example.test');
      assert.equal(problem !== undefined, row.unsafe, problem);
    });
  }
});

const ALIASES: AliasTable = {
  info: ['alice'],
  team: ['alice', 'carol@elsewhere.test'],
  outside: ['friend@elsewhere.test'],
  mixed: ['ghost', 'alice'],
  ghosts: ['ghost1', 'ghost2'],
  ping: ['pong'],
  pong: ['ping'],
};

const RULES: ResolutionRules = {
  isLocalDomain: (d) => d === 'example.test',
  aliases: ALIASES,
  delimiters: '-+',
  postmaster: 'alice@example.test',
};

const yes: MailboxAnswer = { exists: true };
const no: MailboxAnswer = { exists: false };

interface VerdictRow {
  why: string;
  address: string;
  answers: Record<string, MailboxAnswer>;
  /** 'accept', a reply code, or 'ask' (undecided: look these up first). */
  expected: 'accept' | 550 | 'ask';
  enhanced?: string;
  missing?: string[];
}

const VERDICTS: VerdictRow[] = [
  {
    why: 'nothing known: ask the mailbox first',
    address: 'alice@example.test',
    answers: {},
    expected: 'ask',
    missing: ['alice@example.test'],
  },
  { why: 'an existing user', address: 'alice@example.test', answers: { 'alice@example.test': yes }, expected: 'accept' },
  { why: 'no such user', address: 'bob@example.test', answers: { 'bob@example.test': no }, expected: 550, enhanced: '5.1.1' },
  {
    why: 'an extension: both readings are asked at once',
    address: 'alice-news@example.test',
    answers: {},
    expected: 'ask',
    missing: ['alice-news@example.test', 'alice@example.test'],
  },
  {
    why: 'an extension falls back to the user',
    address: 'alice-news@example.test',
    answers: { 'alice-news@example.test': no, 'alice@example.test': yes },
    expected: 'accept',
  },
  {
    why: 'user+tag, the other delimiter',
    address: 'alice+tag@example.test',
    answers: { 'alice+tag@example.test': no, 'alice@example.test': yes },
    expected: 'accept',
  },
  {
    why: 'an extension of nobody',
    address: 'bob-x@example.test',
    answers: { 'bob-x@example.test': no, 'bob@example.test': no },
    expected: 550,
    enhanced: '5.1.1',
  },
  {
    why: 'a deliverable target found while other answers are missing is final',
    address: 'alice-news@example.test',
    answers: { 'alice@example.test': yes },
    expected: 'accept',
  },
  {
    why: 'unknown is never said while an answer is missing',
    address: 'bob-x@example.test',
    answers: { 'bob-x@example.test': no },
    expected: 'ask',
    missing: ['bob@example.test'],
  },
  { why: 'an alias to a user', address: 'info@example.test', answers: { 'alice@example.test': yes }, expected: 'accept' },
  { why: 'an alias to someone elsewhere needs no lookup', address: 'outside@example.test', answers: {}, expected: 'accept' },
  { why: 'an alias with a forward among its targets', address: 'team@example.test', answers: {}, expected: 'accept' },
  {
    why: 'an alias with one deliverable target of two',
    address: 'mixed@example.test',
    answers: { 'ghost@example.test': no, 'alice@example.test': yes },
    expected: 'accept',
  },
  {
    why: 'an alias whose every target is unknown',
    address: 'ghosts@example.test',
    answers: { 'ghost1@example.test': no, 'ghost2@example.test': no },
    expected: 550,
    enhanced: '5.1.1',
  },
  { why: 'an alias loop', address: 'ping@example.test', answers: {}, expected: 550, enhanced: '5.4.6' },
  {
    why: 'postmaster goes to delivery.postmaster',
    address: 'postmaster@example.test',
    answers: { 'postmaster@example.test': no, 'alice@example.test': yes },
    expected: 'accept',
  },
  {
    why: 'abuse too',
    address: 'Abuse@example.test',
    answers: { 'Abuse@example.test': no, 'alice@example.test': yes },
    expected: 'accept',
  },
  {
    why: 'answers are per local part as written (Maildir names are case-sensitive)',
    address: 'Alice@example.test',
    answers: { 'alice@example.test': yes },
    expected: 'ask',
    missing: ['Alice@example.test'],
  },
];

describe('resolveWithAnswers + localVerdict', () => {
  for (const row of VERDICTS) {
    test(row.why, () => {
      const resolution = resolveWithAnswers(row.address, new Map(Object.entries(row.answers)), RULES);
      const verdict = localVerdict(row.address, resolution);
      if (row.expected === 'ask') {
        assert.equal(verdict, undefined);
      } else if (row.expected === 'accept') {
        assert.equal(verdict?.action, 'accept', JSON.stringify(verdict));
      } else {
        assert.equal(verdict?.action, 'reject', JSON.stringify(verdict));
        if (verdict?.action === 'reject') {
          assert.equal(verdict.reply.code, row.expected);
          assert.equal(verdict.reply.enhanced, row.enhanced);
        }
      }
      if (row.missing) {
        assert.deepEqual(
          resolution.missing.map((c) => `${c.local}@${c.domain}`),
          row.missing,
        );
      }
    });
  }

  test('the accept reason names the targets, the reject reason what was asked', () => {
    const accepted = localVerdict(
      'team@example.test',
      resolveWithAnswers('team@example.test', new Map([['alice@example.test', yes]]), RULES),
    );
    assert.equal(accepted?.reason, 'local recipient: alice@example.test, forward to carol@elsewhere.test');
    const refused = localVerdict(
      'bob@example.test',
      resolveWithAnswers('bob@example.test', new Map([['bob@example.test', no]]), RULES),
    );
    assert.equal(refused?.reason, 'no such user: bob@example.test');
  });
});

describe('RCPT replies (Postfix wording)', () => {
  const rows: [ReturnType<typeof unknownLocalUser>, string][] = [
    [
      unknownLocalUser('nobody@example.test', 'r'),
      '550 5.1.1 <nobody@example.test>: Recipient address rejected: User unknown in local recipient table',
    ],
    [
      unknownRelayUser('nobody@relay.test', 'r'),
      '550 5.1.1 <nobody@relay.test>: Recipient address rejected: User unknown in relay recipient table',
    ],
    [
      badMailboxName('a/b@example.test', 'r'),
      '553 5.1.3 <a/b@example.test>: Recipient address rejected: Not a valid mailbox name',
    ],
    [lookupFailure('alice@example.test', 'r'), '451 4.3.0 <alice@example.test>: Temporary lookup failure'],
  ];
  for (const [result, line] of rows) {
    test(line, () => assert.equal(`${result.reply.code} ${result.reply.enhanced} ${result.reply.text}`, line));
  }
});

describe('delivery: a target nobody has', () => {
  const rows: [string, string, string][] = [
    [
      'nobody@example.test',
      '550 5.1.1 <nobody@example.test>: Recipient address rejected: User unknown in local recipient table',
      'an ordinary name: unknown user',
    ],
    ['a/b@example.test', '550 5.1.3 <a/b@example.test>: unsafe local part', 'a "/" can never name a Maildir'],
    ['..@example.test', '550 5.1.3 <..@example.test>: unsafe local part', 'nor a leading dot'],
    ['"a/b"@example.test', '550 5.1.3 <"a/b"@example.test>: unsafe local part', 'quoted, the same'],
  ];
  for (const [address, reply, why] of rows) {
    test(`${why}: ${address}`, () => {
      const got = unknownTarget(address);
      assert.equal(got.result, 'failed');
      assert.ok(replyLine(got.reply).startsWith(reply), replyLine(got.reply));
    });
  }
});

describe("delivery: a recipient's result from its targets", () => {
  const target = (result: TargetResult['result'], code: number, enhanced: string, text: string): TargetResult => ({
    result,
    reply: deliveryReply(code, enhanced, text),
  });
  const delivered = target('delivered', 250, '2.0.0', 'delivered to /m/alice');
  const unknown = target('failed', 550, '5.1.1', '<nobody@example.test>: unknown');
  const loop = target('failed', 554, '5.4.6', '<ping@example.test>: alias loop or too deep');
  const deferred = target('deferred', 451, '4.2.0', 'bob@example.test: disk full');
  const rows: { why: string; targets: TargetResult[]; expected: TargetResult }[] = [
    { why: 'one target', targets: [delivered], expected: delivered },
    {
      why: 'all delivered: one reply naming each copy',
      targets: [delivered, target('delivered', 250, '2.1.5', 'forwarded to <c@example.net>')],
      expected: target('delivered', 250, '2.0.0', 'delivered to /m/alice; forwarded to <c@example.net>'),
    },
    {
      why: 'a failed target after a delivered one: its reply only, so the bounce names the failure',
      targets: [delivered, unknown],
      expected: unknown,
    },
    { why: 'a failed target before a delivered one', targets: [unknown, delivered], expected: unknown },
    {
      why: "two failed targets: the first one's code, both texts in order",
      targets: [loop, delivered, unknown],
      expected: target('failed', 554, '5.4.6', '<ping@example.test>: alias loop or too deep; <nobody@example.test>: unknown'),
    },
    { why: 'deferred beats failed: tried again', targets: [unknown, deferred, delivered], expected: deferred },
    { why: 'no targets', targets: [], expected: target('delivered', 250, '2.0.0', 'no targets') },
  ];
  for (const row of rows) {
    test(row.why, () => assert.deepEqual(recipientResult(row.targets), row.expected));
  }
});
