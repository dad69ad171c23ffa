/*
 * log.format "text": each row is a pino record, the line people read, and why.
 * The order of the leading fields is part of the format (admins grep and cut it).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { formatTextLine, type LogRecord } from '../../core/log/text-format.js';

const T = '2025-03-01T10:00:00.000Z';

describe('formatTextLine', () => {
  const rows: Array<{ why: string; record: LogRecord; line: string }> = [
    {
      why: 'a queued message: id first, then result and client; msg that repeats the result is left out',
      record: {
        level: 'info',
        time: T,
        service: 'qgate',
        listener: 'mx',
        session: 'm1.1',
        event: 'message',
        ms: 5,
        recipients: ['u@example.test', 'v@example.test'],
        sender: 'a@b.test',
        client: '192.0.2.1',
        helo: 'client.test',
        size: 385,
        reply: '250 2.0.0 Ok: queued as 0ABC',
        queueId: '0ABC',
        result: 'queued',
        msg: 'queued',
      },
      line: `${T} info message queueId=0ABC result=queued listener=mx session=m1.1 client=192.0.2.1 helo=client.test sender=<a@b.test> recipients=<u@example.test>,<v@example.test> size=385 reply="250 2.0.0 Ok: queued as 0ABC" ms=5\n`,
    },
    {
      why: 'a refused transaction: plugin and reason, refused recipients with their codes, decisions in short',
      record: {
        level: 'info',
        time: T,
        event: 'message',
        result: 'rejected',
        sender: '',
        recipients: [],
        refused: [{ address: 'x@other.test', code: 554 }],
        plugin: 'rcpthosts',
        reason: 'other.test is not in rcpthosts',
        decisions: [{ plugin: 'rcpthosts', hook: 'rcpt', action: 'reject', ms: 0.1 }],
        msg: 'rejected',
      },
      line: `${T} info message result=rejected sender=<> recipients="" refused=<x@other.test>:554 plugin=rcpthosts reason="other.test is not in rcpthosts" decisions=rcpthosts/rcpt:reject\n`,
    },
    {
      why: 'a delivery line: "delivery deferred" repeats event and result',
      record: {
        level: 'info',
        time: T,
        event: 'delivery',
        queueId: '0ABC',
        sender: 'a@b.test',
        recipient: 'u@example.net',
        destination: 'mx.example.net',
        result: 'deferred',
        reply: '451 4.4.1 connection refused',
        msg: 'delivery deferred',
      },
      line: `${T} info delivery queueId=0ABC result=deferred sender=<a@b.test> recipient=<u@example.net> destination=mx.example.net reply="451 4.4.1 connection refused"\n`,
    },
    {
      why: 'a warning keeps its message, quoted, right after the event',
      record: { level: 'warn', time: T, event: 'queue', msg: 'queue disk full: free space', path: '/var/q' },
      line: `${T} warn queue "queue disk full: free space" path=/var/q\n`,
    },
    {
      why: 'no event: a dash, then the message',
      record: { level: 'error', time: T, msg: 'listener error', err: { type: 'Error', message: 'boom', code: 'EIO' } },
      line: `${T} error - "listener error" err="Error: boom (EIO)"\n`,
    },
    {
      why: 'a client-chosen value cannot start a new line or fake a field',
      record: { level: 'info', time: T, event: 'connection', helo: 'x\r\n2025 info message result=queued', end: 'quit' },
      line: `${T} info connection helo="x\\r\\n2025 info message result=queued" end=quit\n`,
    },
    {
      why: 'quotes, backslashes, "=" and C1 controls are escaped or quoted',
      record: { level: 'info', time: T, event: 'e', reason: 'a"b\\c', user: 'k=v', client: 'x\u0085y\u2028' },
      line: `${T} info e client="x\\u0085y\\u2028" user="k=v" reason="a\\"b\\\\c"\n`,
    },
    {
      why: 'other objects and arrays as JSON; booleans and numbers bare',
      record: { level: 'info', time: T, event: 'e', ok: true, n: 0, sni: { a: 1 }, list: [1, 'b'] },
      line: `${T} info e ok=true n=0 sni="{\\"a\\":1}" list=1,b\n`,
    },
  ];
  for (const row of rows) {
    test(row.why, () => {
      assert.equal(formatTextLine(row.record), row.line);
    });
  }
});
