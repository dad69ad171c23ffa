/*
 * The pure half of sql-users: configured queries checked against their
 * parameters, what a question binds, and rows read into directory answers
 * (with the shapes of the qgate, vpopmail and Dovecot layouts).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Value } from '../../../core/plugin-api/index.js';
import { SqlQuery } from '../../../plugins/sql-users/options.js';
import { PRESETS } from '../../../plugins/sql-users/presets.js';
import { bind, mayLogIn, queryProblem, questionParts, readAliasRows, readUserRow } from '../../../plugins/sql-users/rows.js';

describe('queryProblem', () => {
  const cases: { why: string; query: SqlQuery; problem?: RegExp }[] = [
    { why: 'one parameter, used', query: { sql: 'SELECT 1 FROM users WHERE address = $1', params: ['address'] } },
    {
      why: 'two, used twice',
      query: { sql: 'SELECT 1 FROM t WHERE a = $1 OR b = $2 OR c = $1', params: ['local', 'domain'] },
    },
    {
      why: 'a placeholder without a parameter',
      query: { sql: 'SELECT 1 FROM t WHERE a = $1 AND b = $2', params: ['address'] },
      problem: /\$2 has no parameter/,
    },
    {
      why: 'a parameter the query does not use (PostgreSQL cannot type it)',
      query: { sql: 'SELECT 1 FROM t WHERE b = $2', params: ['local', 'domain'] },
      problem: /params names \$1 \(local\) but the query does not use it/,
    },
    {
      why: "Dovecot's pasted '%u'",
      query: { sql: "SELECT password FROM users WHERE userid = '%u'", params: ['address'] },
      problem: /'%u' is pasted into the text/,
    },
    {
      why: "Dovecot's %{user}",
      query: { sql: 'SELECT password FROM users WHERE userid = %{user}', params: ['address'] },
      problem: /%\{user\} is pasted/,
    },
    { why: '$0', query: { sql: 'SELECT $0', params: ['address'] }, problem: /\$0 has no parameter/ },
  ];
  for (const c of cases) {
    it(c.why, () => {
      const problem = queryProblem(c.query);
      if (c.problem) assert.match(problem ?? '', c.problem);
      else assert.equal(problem, undefined);
    });
  }
  for (const [name, preset] of Object.entries(PRESETS)) {
    it(`the ${name} preset's queries are well formed`, () => {
      for (const q of [preset.user, preset.alias, preset.domain]) if (q) assert.equal(queryProblem(q), undefined, q.sql);
    });
  }
  it('a query is { sql, params } with the known parameter names', () => {
    assert.ok(Value.Check(SqlQuery, { sql: 'SELECT 1 WHERE $1 = $1', params: ['address'] }));
    assert.ok(!Value.Check(SqlQuery, 'SELECT 1'));
    assert.ok(!Value.Check(SqlQuery, { sql: 'SELECT $1', params: ['password'] }));
    assert.ok(!Value.Check(SqlQuery, { sql: 'SELECT $1', params: [] }));
  });
});

describe('questionParts and bind', () => {
  const cases: [string, ReturnType<typeof questionParts>][] = [
    ['Alice@Example.TEST', { address: 'alice@example.test', local: 'alice', domain: 'example.test' }],
    ['"a@b"@example.test', { address: '"a@b"@example.test', local: '"a@b"', domain: 'example.test' }],
    ["x' OR '1'='1@example.test", { address: "x' or '1'='1@example.test", local: "x' or '1'='1", domain: 'example.test' }],
    ['alice', undefined],
    ['@example.test', undefined],
    ['alice@', undefined],
    ['nul\0@example.test', undefined],
    [`${'a'.repeat(320)}@example.test`, undefined],
  ];
  for (const [input, parts] of cases) it(JSON.stringify(input), () => assert.deepEqual(questionParts(input), parts));
  it('binds the declared parameters in order', () => {
    const parts = questionParts('bob@example.test')!;
    assert.deepEqual(bind({ sql: 'x $1 $2', params: ['domain', 'local'] }, parts), ['example.test', 'bob']);
  });
});

describe('readUserRow', () => {
  const parts = questionParts('alice@example.test')!;
  it('a qgate row', () => {
    const row = readUserRow(
      {
        address: 'alice@example.test',
        password: '{SSHA}x',
        mailbox: '/srv/mail/alice',
        forwards: ['a@far.test'],
        deliver_locally: true,
        enabled: true,
        quota: '1048576',
      },
      parts,
    );
    assert.deepEqual(row, {
      record: {
        address: 'alice@example.test',
        mailbox: '/srv/mail/alice',
        forwards: ['a@far.test'],
        deliverLocally: true,
        enabled: true,
        quota: 1048576,
      },
      password: '{SSHA}x',
      loginEnabled: true,
      serviceLogins: {},
    });
  });
  it('a vpopmail row: char(n) padding, flags, no quota', () => {
    const row = readUserRow(
      {
        address: 'alice@example.test',
        password: '{CRYPT}$1$x$y   ',
        mailbox: '/home/vpopmail/domains/example.test/alice/Maildir',
        enabled: true,
        login_enabled: false,
        quota: '0',
      },
      parts,
    );
    assert.equal(row.password, '{CRYPT}$1$x$y');
    assert.equal(row.loginEnabled, false);
    assert.equal(row.record.quota, undefined);
  });
  it('login flags per service: login_enabled for all, smtp_enabled / pop3_enabled for one, all when none is named', () => {
    const cases: [Record<string, unknown>, (string | undefined)[], boolean[]][] = [
      // columns                                    services: smtp, pop3, unnamed
      [{}, ['smtp', 'pop3', undefined], [true, true, true]],
      [{ login_enabled: false }, ['smtp', 'pop3', undefined], [false, false, false]],
      [{ smtp_enabled: false, pop3_enabled: true }, ['smtp', 'pop3', undefined], [false, true, false]],
      [{ pop3_enabled: 'f' }, ['smtp', 'pop3', undefined], [true, false, false]],
      [{ pop3_enabled: false }, ['imap'], [false]],
      [{ smtp_enabled: true, pop3_enabled: true, login_enabled: false }, ['smtp', 'pop3'], [false, false]],
    ];
    for (const [columns, services, expected] of cases) {
      const row = readUserRow({ address: 'alice@example.test', ...columns }, parts);
      assert.deepEqual(
        services.map((s) => mayLogIn(row, s)),
        expected,
        JSON.stringify(columns),
      );
    }
  });
  it("Dovecot's active 'Y'/'N' and forwards as text", () => {
    const row = readUserRow({ enabled: 'N', forwards: 'a@x.test, b@y.test' }, parts);
    assert.equal(row.record.enabled, false);
    assert.equal(row.record.address, 'alice@example.test', 'the address asked about when the row has none');
    assert.deepEqual(row.record.forwards, ['a@x.test', 'b@y.test']);
  });
  it('other columns become attributes', () => {
    assert.deepEqual(readUserRow({ gecos: 'Alice  ', uid: 89 }, parts).record.attributes, { gecos: 'Alice', uid: '89' });
  });
  const malformed: [string, Record<string, unknown>][] = [
    ['enabled not a boolean', { enabled: 'maybe' }],
    ['quota negative', { quota: -1 }],
    ['quota not a number', { quota: 'lots' }],
    ['forwards not addresses', { forwards: ['nobody'] }],
    ['address not an address', { address: 'alice' }],
    ['mailbox not text', { mailbox: 5 }],
  ];
  for (const [why, row] of malformed) it(`throws: ${why}`, () => assert.throws(() => readUserRow(row, parts)));
});

describe('readAliasRows', () => {
  const parts = questionParts('sales@example.test')!;
  it('targets from several rows, each once', () => {
    assert.deepEqual(readAliasRows([{ target: 'a@example.test' }, { target: 'b@far.test, a@example.test' }], parts), {
      address: 'sales@example.test',
      forwards: ['a@example.test', 'b@far.test'],
      deliverLocally: false,
    });
  });
  it("vpopmail's valias lines: &forward kept, programs and Maildir paths left out", () => {
    const rows = [
      { target: '&alice@example.test' },
      { target: '| /usr/bin/autorespond 86400 3 message' },
      { target: '/home/vpopmail/x/Maildir/' },
    ];
    assert.deepEqual(readAliasRows(rows, parts)?.forwards, ['alice@example.test']);
  });
  it('no rows, or only programs: not an alias', () => {
    assert.equal(readAliasRows([], parts), undefined);
    assert.equal(readAliasRows([{ target: '|/bin/true' }], parts), undefined);
  });
  it('a target that is not an address throws', () => assert.throws(() => readAliasRows([{ target: 'alice' }], parts)));
});
