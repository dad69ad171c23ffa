import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  accept,
  disconnect,
  type HandlerReturn,
  type HookResult,
  isFinal,
  next,
  reject,
  tempfail,
} from '../../core/hooks/results.js';

describe('reject', () => {
  const valid: Array<{ why: string; args: Parameters<typeof reject>; expected: HookResult }> = [
    {
      why: 'permanent refusal, reason defaults to the text',
      args: [550, '5.7.1', 'Relaying denied'],
      expected: {
        action: 'reject',
        reply: { code: 550, enhanced: '5.7.1', text: 'Relaying denied' },
        reason: 'Relaying denied',
      },
    },
    {
      why: 'temporary refusal with its own reason',
      args: [450, '4.2.0', 'Try later', 'greylisted'],
      expected: { action: 'reject', reply: { code: 450, enhanced: '4.2.0', text: 'Try later' }, reason: 'greylisted' },
    },
    {
      why: 'highest allowed code and three-digit enhanced parts',
      args: [599, '5.999.999', 'x'],
      expected: { action: 'reject', reply: { code: 599, enhanced: '5.999.999', text: 'x' }, reason: 'x' },
    },
    {
      why: '400 is allowed',
      args: [400, '4.0.0', 'x'],
      expected: { action: 'reject', reply: { code: 400, enhanced: '4.0.0', text: 'x' }, reason: 'x' },
    },
  ];
  for (const row of valid) {
    test(row.why, () => {
      assert.deepEqual(reject(...row.args), row.expected);
    });
  }

  const invalid: Array<{ why: string; code: number; enhanced: string }> = [
    { why: 'success code', code: 250, enhanced: '2.0.0' },
    { why: 'intermediate code', code: 354, enhanced: '3.0.0' },
    { why: 'code above 599', code: 600, enhanced: '5.0.0' },
    { why: 'code below 400', code: 399, enhanced: '4.0.0' },
    { why: 'non-integer code', code: 550.5, enhanced: '5.0.0' },
    { why: 'NaN code', code: Number.NaN, enhanced: '5.0.0' },
    { why: '5xx code with a 4.x.x enhanced code', code: 550, enhanced: '4.7.1' },
    { why: '4xx code with a 5.x.x enhanced code', code: 450, enhanced: '5.7.1' },
    { why: '5xx code with a 2.x.x enhanced code', code: 550, enhanced: '2.0.0' },
    { why: 'enhanced code with two parts', code: 550, enhanced: '5.7' },
    { why: 'enhanced code with four parts', code: 550, enhanced: '5.7.1.1' },
    { why: 'enhanced subject of four digits', code: 550, enhanced: '5.1000.1' },
    { why: 'enhanced code with letters', code: 550, enhanced: '5.x.1' },
    { why: 'empty enhanced code', code: 550, enhanced: '' },
    { why: 'enhanced code padded with text', code: 550, enhanced: '5.7.1 ' },
  ];
  for (const row of invalid) {
    test(`throws: ${row.why}`, () => {
      assert.throws(() => reject(row.code, row.enhanced, 'text'), RangeError);
    });
  }
});

describe('tempfail', () => {
  test('defaults to 451 4.3.0', () => {
    assert.deepEqual(tempfail('Try again later'), {
      action: 'reject',
      reply: { code: 451, enhanced: '4.3.0', text: 'Try again later' },
      reason: 'Try again later',
    });
  });
  test('own code, enhanced code and reason', () => {
    assert.deepEqual(tempfail('Mailbox full', 452, '4.2.2', 'quota'), {
      action: 'reject',
      reply: { code: 452, enhanced: '4.2.2', text: 'Mailbox full' },
      reason: 'quota',
    });
  });
  const invalid: Array<{ why: string; code: number; enhanced: string }> = [
    { why: '5xx code', code: 550, enhanced: '5.0.0' },
    { why: '5xx code with a 4.x.x enhanced code', code: 554, enhanced: '4.3.0' },
    { why: '4xx code with a 5.x.x enhanced code', code: 421, enhanced: '5.7.0' },
    { why: 'success code', code: 250, enhanced: '2.0.0' },
    { why: 'malformed enhanced code', code: 451, enhanced: '4.3' },
  ];
  for (const row of invalid) {
    test(`throws: ${row.why}`, () => {
      assert.throws(() => tempfail('text', row.code, row.enhanced), RangeError);
    });
  }
  test('throws: 5xx code with its default enhanced code', () => {
    assert.throws(() => tempfail('text', 550), RangeError);
  });
});

describe('disconnect', () => {
  test('defaults to 421 4.7.0', () => {
    assert.deepEqual(disconnect('Too many errors'), {
      action: 'disconnect',
      reply: { code: 421, enhanced: '4.7.0', text: 'Too many errors' },
      reason: 'Too many errors',
    });
  });
  test('permanent code allowed', () => {
    assert.deepEqual(disconnect('Go away', 554, '5.7.1', 'blocklisted'), {
      action: 'disconnect',
      reply: { code: 554, enhanced: '5.7.1', text: 'Go away' },
      reason: 'blocklisted',
    });
  });
  const invalid: Array<{ why: string; code: number; enhanced: string }> = [
    { why: 'closing code 221', code: 221, enhanced: '2.0.0' },
    { why: 'code above 599', code: 600, enhanced: '5.0.0' },
    { why: '4xx code with a 5.x.x enhanced code', code: 421, enhanced: '5.7.0' },
    { why: '5xx code with a 4.x.x enhanced code', code: 554, enhanced: '4.7.0' },
  ];
  for (const row of invalid) {
    test(`throws: ${row.why}`, () => {
      assert.throws(() => disconnect('text', row.code, row.enhanced), RangeError);
    });
  }
  test('throws: 5xx code with its default enhanced code', () => {
    assert.throws(() => disconnect('text', 554), RangeError);
  });
});

describe('next and accept', () => {
  test('next() is continue', () => {
    assert.deepEqual(next(), { action: 'continue' });
  });
  test('next() is one frozen value', () => {
    assert.equal(next(), next());
    assert.equal(Object.isFrozen(next()), true);
  });
  test('accept() has no reason or reply keys', () => {
    assert.deepEqual(accept(), { action: 'accept' });
  });
  test('accept(reason)', () => {
    assert.deepEqual(accept('local recipient'), { action: 'accept', reason: 'local recipient' });
  });
  test('accept(reason, reply)', () => {
    const reply = { code: 250, enhanced: '2.1.5', text: 'Recipient OK' };
    assert.deepEqual(accept('ours', reply), { action: 'accept', reason: 'ours', reply });
  });
  test('accept(undefined, reply)', () => {
    const reply = { code: 250, text: 'OK' };
    assert.deepEqual(accept(undefined, reply), { action: 'accept', reply });
  });
});

describe('isFinal', () => {
  const rows: Array<{ why: string; result: HandlerReturn | null; expected: boolean }> = [
    { why: 'undefined (handler returned nothing)', result: undefined, expected: false },
    { why: 'null', result: null, expected: false },
    { why: 'next()', result: next(), expected: false },
    { why: 'a plain continue object', result: { action: 'continue' }, expected: false },
    { why: 'accept()', result: accept(), expected: true },
    { why: 'reject()', result: reject(550, '5.7.1', 'no'), expected: true },
    { why: 'tempfail()', result: tempfail('later'), expected: true },
    { why: 'disconnect()', result: disconnect('bye'), expected: true },
  ];
  for (const row of rows) {
    test(row.why, () => {
      assert.equal(isFinal(row.result as HandlerReturn), row.expected);
    });
  }
});
