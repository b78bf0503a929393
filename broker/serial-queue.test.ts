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
