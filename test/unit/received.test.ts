/*
 * The Received trace header (golden strings) and the RFC 3848 protocol names.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { protocolName, receivedHeader, rfc5322Date } from '../../core/message/received.js';

const base = {
  heloDomain: 'client.example',
  clientAddress: '192.0.2.7',
  hostname: 'mx.example.net',
  esmtp: true,
  tls: undefined as { protocol: string; cipher: string } | undefined,
  authenticated: false,
  queueId: '0MWT707BG0038AI',
  recipient: 'user@example.net' as string | undefined,
  date: new Date(Date.UTC(2026, 10, 23, 11, 38, 50)),
};

describe('Received header', () => {
  const date = rfc5322Date(base.date);
  const cases: { why: string; input: typeof base; expect: string }[] = [
    {
      why: 'one recipient is named',
      input: base,
      expect: `Received: from client.example ([192.0.2.7])\r\n\tby mx.example.net (qgate) with ESMTP id 0MWT707BG0038AI\r\n\tfor <user@example.net>; ${date}\r\n`,
    },
    {
      why: 'several recipients are not (Bcc privacy)',
      input: { ...base, recipient: undefined },
      expect: `Received: from client.example ([192.0.2.7])\r\n\tby mx.example.net (qgate) with ESMTP id 0MWT707BG0038AI;\r\n\t${date}\r\n`,
    },
    {
      why: 'IPv6 clients as an IPv6 address literal',
      input: { ...base, clientAddress: '2001:db8::1' },
      expect: `Received: from client.example ([IPv6:2001:db8::1])\r\n\tby mx.example.net (qgate) with ESMTP id 0MWT707BG0038AI\r\n\tfor <user@example.net>; ${date}\r\n`,
    },
    {
      why: 'TLS facts and ESMTPS',
      input: { ...base, tls: { protocol: 'TLSv1.3', cipher: 'TLS_AES_256_GCM_SHA384' } },
      expect: `Received: from client.example ([192.0.2.7])\r\n\tby mx.example.net (qgate) with ESMTPS (using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384) id 0MWT707BG0038AI\r\n\tfor <user@example.net>; ${date}\r\n`,
    },
    {
      why: 'a HELO argument with control bytes cannot bend the header',
      input: { ...base, heloDomain: 'evil\x00host\x1b[0m' },
      expect: `Received: from evil?host?[0m ([192.0.2.7])\r\n\tby mx.example.net (qgate) with ESMTP id 0MWT707BG0038AI\r\n\tfor <user@example.net>; ${date}\r\n`,
    },
  ];
  for (const c of cases) it(c.why, () => assert.equal(receivedHeader(c.input), c.expect));

  it('names the protocol as RFC 3848 does', () => {
    assert.equal(protocolName({ esmtp: false, tls: undefined, authenticated: false }), 'SMTP');
    assert.equal(protocolName({ esmtp: true, tls: undefined, authenticated: false }), 'ESMTP');
    assert.equal(protocolName({ esmtp: true, tls: { protocol: 'x', cipher: 'y' }, authenticated: true }), 'ESMTPSA');
    assert.equal(protocolName({ esmtp: true, tls: undefined, authenticated: true }), 'ESMTPA');
  });

  it('writes RFC 5322 dates', () => {
    assert.match(date, /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{1,2} Nov 2026 \d\d:\d\d:50 [+-]\d{4}$/);
  });
});
