import { SerialQueue } from './serial-queue.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test('runs the tasks of one key in the order queued, one at a time', async () => {
  const queue = new SerialQueue();
  const events: string[] = [];
  const task = (name: string, ms: number) => async (): Promise<string> => {
    events.push(`start ${name}`);
    await sleep(ms);
    events.push(`end ${name}`);
    return name;
  };
  const results = await Promise.all([queue.run('d', task('a', 20)), queue.run('d', task('b', 1)), queue.run('d', task('c', 5))]);
  expect(results).toEqual(['a', 'b', 'c']);
  expect(events).toEqual(['start a', 'end a', 'start b', 'end b', 'start c', 'end c']);
});

test('different keys do not wait for each other', async () => {
  const queue = new SerialQueue();
  const events: string[] = [];
  const slow = queue.run('x', async () => {
    await sleep(30);
    events.push('x');
  });
  await queue.run('y', async () => {
    events.push('y');
  });
  await slow;
  expect(events).toEqual(['y', 'x']);
});

test('a failed task rejects for its caller and does not block the next one', async () => {
  const queue = new SerialQueue();
  const failed = queue.run('d', async () => {
    throw new Error('boom');
  });
  const next = queue.run('d', async () => 'still runs');
  await expect(failed).rejects.toThrow('boom');
  await expect(next).resolves.toBe('still runs');
});

test('forgets a key once its work is done', async () => {
  const queue = new SerialQueue();
  await queue.run('d', async () => undefined);
  await sleep(0);
  expect(queue.size).toBe(0);
});

test('tasks of one group queued in a row start together, in order, after the task before them; the next task waits for all', async () => {
  const queue = new SerialQueue();
  const events: string[] = [];
  const task = (name: string, ms: number) => async (): Promise<string> => {
    events.push(`start ${name}`);
    await sleep(ms);
    events.push(`end ${name}`);
    return name;
  };
  const results = await Promise.all([
    queue.run('d', task('status', 10)),
    queue.run('d', task('r1', 20), 'reports'),
    queue.run('d', task('r2', 1), 'reports'),
    queue.run('d', task('after', 1)),
    queue.run('d', task('r3', 1), 'reports'),
  ]);
  expect(results).toEqual(['status', 'r1', 'r2', 'after', 'r3']);
  expect(events).toEqual(['start status', 'end status', 'start r1', 'start r2', 'end r2', 'end r1', 'start after', 'end after', 'start r3', 'end r3']);
  await sleep(0);
  expect(queue.size).toBe(0);
});

test('a failed task of a group does not hold back the rest of it or what follows', async () => {
  const queue = new SerialQueue();
  const failed = queue.run('d', async () => Promise.reject(new Error('boom')), 'reports');
  const sibling = queue.run('d', async () => 'sibling', 'reports');
  const next = queue.run('d', async () => 'next');
  await expect(failed).rejects.toThrow('boom');
  await expect(sibling).resolves.toBe('sibling');
  await expect(next).resolves.toBe('next');
});
