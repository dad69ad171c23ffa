/*
 * The pure decisions of delivery: qmail's retry schedule, routing (local
 * domains, smtproutes forms, smarthost, address literals), MX ordering and
 * lookup outcomes (null MX, implicit MX, DNS trouble is never a bounce).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { lookupMx, type MxAnswer, type MxResolver, orderExchanges } from '../../core/delivery/mx.js';
import { expired, nextAttempt } from '../../core/delivery/retry.js';
import { decideRoute, findStaticRoute, type RoutingTable } from '../../core/delivery/routing.js';
import { replyLine, type StaticRoute } from '../../core/model/index.js';

const DAY = 86_400_000;

describe('retry schedule (qmail: birth + n² × base)', () => {
  const policy = { baseMs: 400_000, lifetimeMs: 7 * DAY };
  const born = Date.UTC(2026, 0, 1);
  const cases: { attempts: number; expectSeconds: number | undefined; why: string }[] = [
    { attempts: 0, expectSeconds: 0, why: 'the first attempt is immediate' },
    { attempts: 1, expectSeconds: 400, why: 'then 6m40s after birth' },
    { attempts: 2, expectSeconds: 1600, why: 'then 26m40s' },
    { attempts: 3, expectSeconds: 3600, why: 'then 1h' },
    { attempts: 10, expectSeconds: 40_000, why: 'growing quadratically' },
    { attempts: 38, expectSeconds: 577_600, why: 'the last scheduled attempt inside 7 days' },
    { attempts: 39, expectSeconds: 604_800, why: 'a later one is made when the lifetime ends' },
  ];
  for (const c of cases) {
    it(c.why, () => {
      const at = nextAttempt(born, c.attempts, born, policy);
      assert.equal(at === undefined ? undefined : (at - born) / 1000, c.expectSeconds);
    });
  }
  it('never schedules in the past', () => {
    assert.equal(nextAttempt(born, 1, born + 1_000_000, policy), born + 1_000_000);
  });
  it('nothing once the lifetime is over', () => {
    assert.equal(nextAttempt(born, 3, born + 7 * DAY, policy), undefined);
  });
  it('expires at the lifetime', () => {
    assert.equal(expired(born, born + 7 * DAY - 1, policy), false);
    assert.equal(expired(born, born + 7 * DAY, policy), true);
  });
});

describe('routing', () => {
  const routes: StaticRoute[] = [
    { domain: 'example.net', host: 'mailstore.internal', port: 25, tls: 'required', auth: { user: 'u', pass: 'p' } },
    { domain: '.corp.test', host: '10.0.0.1', port: 2525, tls: 'none' },
    { domain: 'a.corp.test', host: 'special.internal', port: 25, tls: 'opportunistic' },
  ];
  const table: RoutingTable = {
    isLocal: (d) => d === 'localhost' || d.endsWith('.local.test'),
    routes,
    mxPort: 25,
    mxTls: 'opportunistic',
  };
  const cases: { domain: string; expect: unknown; why: string }[] = [
    { domain: 'localhost', expect: { kind: 'local' }, why: 'a local domain is delivered locally' },
    { domain: 'x.local.test', expect: { kind: 'local' }, why: 'the local predicate decides' },
    { domain: '', expect: { kind: 'local' }, why: 'a bare local part is local' },
    {
      domain: 'example.net',
      expect: {
        kind: 'smtp',
        hosts: [{ host: 'mailstore.internal', port: 25 }],
        tls: 'required',
        auth: { user: 'u', pass: 'p' },
        via: 'route example.net',
      },
      why: 'an exact static route (the ISP inbound gateway case) with AUTH and required TLS',
    },
    {
      domain: 'b.corp.test',
      expect: { kind: 'smtp', hosts: [{ host: '10.0.0.1', port: 2525 }], tls: 'none', via: 'route .corp.test' },
      why: '".sub" routes cover sub-domains',
    },
    {
      domain: 'a.corp.test',
      expect: { kind: 'smtp', hosts: [{ host: 'special.internal', port: 25 }], tls: 'opportunistic', via: 'route a.corp.test' },
      why: 'an exact route beats a ".sub" route',
    },
    {
      domain: 'corp.test',
      expect: { kind: 'mx', domain: 'corp.test', port: 25, tls: 'opportunistic' },
      why: '".sub" does not cover the domain itself',
    },
    {
      domain: 'Elsewhere.Test',
      expect: { kind: 'mx', domain: 'elsewhere.test', port: 25, tls: 'opportunistic' },
      why: 'everything else goes by MX',
    },
    {
      domain: '[192.0.2.1]',
      expect: { kind: 'smtp', hosts: [{ host: '192.0.2.1', port: 25 }], tls: 'opportunistic', via: 'address literal' },
      why: 'an address literal goes to that address',
    },
  ];
  for (const c of cases) it(c.why, () => assert.deepEqual(decideRoute(c.domain, table), c.expect));

  it('"*" is the smarthost for everything not routed otherwise', () => {
    const withSmarthost = [...routes, { domain: '*', host: 'smarthost.isp', port: 587, tls: 'required' as const }];
    assert.equal(findStaticRoute('anything.test', withSmarthost)?.host, 'smarthost.isp');
    assert.equal(findStaticRoute('example.net', withSmarthost)?.host, 'mailstore.internal');
    assert.equal((decideRoute('anything.test', { ...table, routes: withSmarthost }) as { via: string }).via, 'smarthost');
  });
});

function resolverFrom(zone: {
  mx?: Record<string, { exchange: string; priority: number }[] | string>;
  a?: Record<string, string[] | string>;
  aaaa?: Record<string, string[] | string>;
}): MxResolver {
  const answer = async <T>(table: Record<string, T[] | string> | undefined, name: string): Promise<T[]> => {
    const v = table?.[name];
    if (typeof v === 'string') throw Object.assign(new Error(v), { code: v });
    if (!v) throw Object.assign(new Error('ENODATA'), { code: 'ENODATA' });
    return v;
  };
  return {
    resolveMx: (d) => answer(zone.mx, d),
    resolve4: (d) => answer(zone.a, d),
    resolve6: (d) => answer(zone.aaaa, d),
  };
}

describe('MX lookup', () => {
  it('orders by preference and shuffles equal ones', () => {
    const records = [
      { exchange: 'b.mx.test.', priority: 10 },
      { exchange: 'a.mx.test', priority: 5 },
      { exchange: 'c.mx.test', priority: 10 },
    ];
    assert.deepEqual(
      orderExchanges(records, () => 0.1),
      ['a.mx.test', 'b.mx.test', 'c.mx.test'],
    );
    const seen = new Set<string>();
    let n = 0;
    for (let i = 0; i < 50; i++) seen.add(orderExchanges(records, () => (n++ % 3) / 3)[1]!);
    assert.ok(seen.size >= 1);
  });

  const cases: { why: string; zone: Parameters<typeof resolverFrom>[0]; expect: unknown }[] = [
    {
      why: 'MX hosts in preference order',
      zone: {
        mx: {
          'd.test': [
            { exchange: 'mx2.d.test', priority: 20 },
            { exchange: 'mx1.d.test', priority: 10 },
          ],
        },
      },
      expect: { ok: true, hosts: ['mx1.d.test', 'mx2.d.test'] },
    },
    {
      why: 'RFC 7505 null MX is a permanent failure',
      zone: { mx: { 'd.test': [{ exchange: '', priority: 0 }] } },
      expect: { ok: false, permanent: true, reply: '556 5.1.10 Domain d.test does not accept mail (null MX)' },
    },
    {
      why: 'no MX but an A record: the domain is its own mail host',
      zone: { a: { 'd.test': ['192.0.2.1'] } },
      expect: { ok: true, hosts: ['d.test'] },
    },
    { why: 'no MX but an AAAA record', zone: { aaaa: { 'd.test': ['2001:db8::1'] } }, expect: { ok: true, hosts: ['d.test'] } },
    {
      why: 'no such domain is permanent',
      zone: { mx: { 'd.test': 'ENOTFOUND' } },
      expect: { ok: false, permanent: true, reply: '550 5.1.2 Host or domain name not found: d.test (ENOTFOUND)' },
    },
    {
      why: 'a domain with no mail host at all is permanent',
      zone: {},
      expect: {
        ok: false,
        permanent: true,
        reply: '550 5.1.2 Host or domain name not found: d.test has no MX or address records',
      },
    },
    {
      why: 'SERVFAIL is temporary, never a bounce',
      zone: { mx: { 'd.test': 'ESERVFAIL' } },
      expect: { ok: false, permanent: false, reply: '451 4.4.3 DNS lookup of d.test failed (ESERVFAIL)' },
    },
    {
      why: 'a resolver timeout is temporary',
      zone: { mx: { 'd.test': 'ETIMEOUT' } },
      expect: { ok: false, permanent: false, reply: '451 4.4.3 DNS lookup of d.test failed (ETIMEOUT)' },
    },
    {
      why: 'no MX and the A lookup times out: temporary',
      zone: { a: { 'd.test': 'ETIMEOUT' } },
      expect: { ok: false, permanent: false, reply: '451 4.4.3 DNS lookup of d.test failed (ETIMEOUT)' },
    },
  ];
  // Failures are compared by their reply line; the reply's fields are what it is made of.
  const asLine = (answer: MxAnswer): unknown => (answer.ok ? answer : { ...answer, reply: replyLine(answer.reply) });
  for (const c of cases)
    it(c.why, async () => assert.deepEqual(asLine(await lookupMx('d.test', resolverFrom(c.zone))), c.expect));
});
