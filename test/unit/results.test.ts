import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  accept,
  checkResult,
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
  test('next(reason) keeps the reason for the decision record', () => {
    assert.deepEqual(next('spam score 3.1'), { action: 'continue', reason: 'spam score 3.1' });
  });
  test('next("") is plain continue', () => {
    assert.equal(next(''), next());
  });
  const badAccepts: Array<{ why: string; reply: { code: number; enhanced?: string; text: string } }> = [
    { why: 'a 5xx reply', reply: { code: 550, enhanced: '5.7.1', text: 'no' } },
    { why: 'a 3xx reply', reply: { code: 334, text: '' } },
    { why: 'an enhanced code of another class', reply: { code: 250, enhanced: '5.0.0', text: 'Ok' } },
  ];
  for (const row of badAccepts) {
    test(`accept throws: ${row.why}`, () => {
      assert.throws(() => accept('x', row.reply), RangeError);
    });
  }
});

describe('checkResult', () => {
  const ok: Array<{ why: string; value: unknown }> = [
    { why: 'nothing', value: undefined },
    { why: 'null', value: null },
    { why: 'continue', value: { action: 'continue' } },
    { why: 'continue with a reason', value: { action: 'continue', reason: 'score 2' } },
    { why: 'accept without a reply', value: { action: 'accept' } },
    { why: 'accept with a 2xx reply', value: { action: 'accept', reply: { code: 235, enhanced: '2.7.0', text: 'Ok' } } },
    { why: 'accept with a reply without an enhanced code', value: { action: 'accept', reply: { code: 250, text: 'Ok' } } },
    { why: 'reject 5xx', value: { action: 'reject', reply: { code: 550, enhanced: '5.7.1', text: 'no' } } },
    {
      why: 'reject 4xx, multi-line text',
      value: { action: 'reject', reply: { code: 451, enhanced: '4.3.0', text: ['a', 'b'] } },
    },
    { why: 'disconnect 421', value: { action: 'disconnect', reply: { code: 421, enhanced: '4.7.0', text: 'bye' } } },
    { why: 'every helper', value: reject(554, '5.7.1', 'x') },
  ];
  for (const row of ok) {
    test(`accepts ${row.why}`, () => {
      const checked = checkResult(row.value);
      assert.equal(checked.ok, true, checked.ok ? '' : checked.problem);
    });
  }
  const bad: Array<{ why: string; value: unknown; problem: string }> = [
    { why: 'a number', value: 42, problem: 'returned 42, not a hook result' },
    { why: 'a string', value: 'reject', problem: 'returned "reject", not a hook result' },
    { why: 'an unknown action', value: { action: 'deny' }, problem: 'returned an unknown action "deny": {"action":"deny"}' },
    { why: 'no action', value: {}, problem: 'returned an unknown action undefined: {}' },
    {
      why: 'reject with a 250 reply',
      value: { action: 'reject', reply: { code: 250, text: 'Ok' } },
      problem: 'returned reject that needs a reply code between 400 and 599, got 250',
    },
    {
      why: 'disconnect with a 354 reply',
      value: { action: 'disconnect', reply: { code: 354, text: 'go on' } },
      problem: 'returned disconnect that needs a reply code between 400 and 599, got 354',
    },
    {
      why: 'accept with a 550 reply',
      value: { action: 'accept', reply: { code: 550, enhanced: '5.7.1', text: 'no' } },
      problem: 'returned accept that needs a reply code between 200 and 299, got 550',
    },
    {
      why: 'reject without a reply',
      value: { action: 'reject', reason: 'x' },
      problem: 'returned reject that needs a reply, got undefined',
    },
    {
      why: 'a reply code that is no number',
      value: { action: 'reject', reply: { code: '550', text: 'no' } },
      problem: 'returned reject that has a reply code that is not 200-599: "550"',
    },
    {
      why: 'a reply code of 700',
      value: { action: 'reject', reply: { code: 700, text: 'no' } },
      problem: 'returned reject that has a reply code that is not 200-599: 700',
    },
    {
      why: 'a fractional reply code',
      value: { action: 'reject', reply: { code: 550.5, text: 'no' } },
      problem: 'returned reject that has a reply code that is not 200-599: 550.5',
    },
    {
      why: 'an enhanced code of another class',
      value: { action: 'reject', reply: { code: 550, enhanced: '4.7.1', text: 'no' } },
      problem: 'returned reject that has enhanced status code 4.7.1, whose class does not match reply code 550',
    },
    {
      why: 'a malformed enhanced code',
      value: { action: 'reject', reply: { code: 550, enhanced: '5.7', text: 'no' } },
      problem: 'returned reject that has a malformed enhanced status code "5.7"',
    },
    {
      why: 'a reply without text',
      value: { action: 'reject', reply: { code: 550, enhanced: '5.7.1' } },
      problem: 'returned reject that has a reply text that is not a string or a list of strings: undefined',
    },
    {
      why: 'a reason that is not a string',
      value: { action: 'continue', reason: 3 },
      problem: 'returned a reason that is not a string: 3',
    },
  ];
  for (const row of bad) {
    test(`refuses ${row.why}`, () => {
      assert.deepEqual(checkResult(row.value), { ok: false, problem: row.problem });
    });
  }
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
